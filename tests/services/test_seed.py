"""Sample data: the demo account (services/seed.py) is idempotent; the benchmark set (bench/seed.py) is skewed,
consistent and loginable."""

from __future__ import annotations

import pytest
from peewee import fn

from bench import seed as bench_seed
from core.passwords import verify_password
from models import Milestone, Project, User
from services import seed


@pytest.fixture(autouse=True)
def _configured(app, clean_db):
    """The app binds the database and Celery; every test starts from empty tables."""


def test_demo_seed_is_idempotent_and_loginable():
    first = seed.load_demo()
    counts = (User.select().count(), Project.select().count(), Milestone.select().count())
    assert "4 project(s) added" in first
    assert "0 project(s) added" in seed.load_demo()
    assert (User.select().count(), Project.select().count(), Milestone.select().count()) == counts
    demo = User.get(User.email == seed.DEMO_EMAIL)
    assert verify_password(seed.DEMO_PASSWORD, demo.password_hash)
    assert counts[2] >= 5


def test_large_seed_is_skewed_consistent_and_loads_once():
    report = bench_seed.load_large(users=12, projects=400, milestones=900)
    assert "loaded 12 users, 400 projects, 900 milestones" in report
    owned = dict(
        User.select(User.email, fn.COUNT(Project.id))
        .join(Project, on=Project.user == User.id)
        .group_by(User.email)
        .tuples()
    )
    assert [owned[bench_seed.bench_email(n)] for n in (1, 2, 3)] == [120, 80, 40]
    assert sum(owned.values()) == 400
    assert min(owned[bench_seed.bench_email(n)] for n in range(4, 13)) > 0

    hashes = {user.password_hash for user in User.select()}
    assert len(hashes) == 1
    assert verify_password(bench_seed.BENCH_PASSWORD, hashes.pop())

    # Deleted projects exist, and none of them keeps a live milestone.
    assert Project.select().where(Project.deleted_at.is_null(False)).exists()
    orphans = Milestone.select().join(Project).where(Project.deleted_at.is_null(False) & Milestone.deleted_at.is_null())
    assert not orphans.exists()
    assert Milestone.select().where(Milestone.due_date.is_null()).exists()

    assert "nothing loaded" in bench_seed.load_large(users=12, projects=400, milestones=900)
    assert Project.select().count() == 400


def test_projects_per_user_adds_up_for_tiny_sets():
    import random

    for users, total in ((1, 5), (2, 7), (4, 3), (10, 0)):
        counts = bench_seed.projects_per_user(users, total, random.Random(1))
        assert (len(counts), sum(counts)) == (users, total)
