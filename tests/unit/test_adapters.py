"""The private names of libraries Cairn relies on, one adapter module per library.

``store/adapter.py`` is the only module that touches peewee's private API and ``web/validation.py``
the only one that touches Connexion's validators'. If an upgrade renames any of these, this
fails first, naming the name, instead of the hot paths failing in odd ways.
"""

from __future__ import annotations

import inspect

import pytest
from connexion.validators import JSONRequestBodyValidator, ParameterValidator
from peewee import Context, Model, Select, SqliteDatabase
from playhouse.pool import PooledDatabase, PooledPostgresqlDatabase

PEEWEE = [
    (Select, "_get_cursor_wrapper"),  # store.adapter.Prepared.models: rows read as query.execute() reads them
    (PooledPostgresqlDatabase, "_is_closed"),  # store.adapter.PooledPostgres: the checkout check
    (SqliteDatabase, "_set_pragmas"),  # store.adapter.WalSqliteDatabase: waits out a switch to WAL
]
CONNEXION = [
    (JSONRequestBodyValidator, "_parse"),  # web.validation.BodyValidator: strict JSON
    (JSONRequestBodyValidator, "_validate"),  # web.validation.BodyValidator: every problem listed
    (ParameterValidator, "validate_query_parameter_list"),  # web.validation.ParamValidator: unknown parameters
]


@pytest.mark.parametrize(("owner", "name"), PEEWEE + CONNEXION, ids=lambda v: getattr(v, "__name__", v))
def test_the_private_method_is_still_there(owner, name):
    assert callable(getattr(owner, name, None)), f"{owner.__module__}.{owner.__name__}.{name} is gone"


def test_peewee_model_instances_keep_their_data_and_dirty_fields():
    class Thing(Model):
        pass

    thing = Thing()
    assert isinstance(thing.__data__, dict)
    assert hasattr(thing._dirty, "clear")


def test_peewee_contexts_carry_the_value_converter():
    assert hasattr(Context().state, "converter")


def test_peewee_pools_count_connections_in_use():
    source = inspect.getsource(PooledDatabase.__init__)
    assert "self._in_use" in source
    assert "self._max_connections" in source


def test_connexion_body_validators_keep_their_schema_validator_and_nullable_flag():
    validator = JSONRequestBodyValidator(
        schema={"type": "object"}, nullable=True, encoding="utf-8", strict_validation=True
    )
    assert hasattr(validator, "_validator")
    assert validator._nullable is True
    assert validator._required is False
