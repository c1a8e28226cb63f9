"""Cursors for every list: where a walk stopped, bound to the list, its sort and its filters.

A cursor is made from a page's last row (``store.paging.Page.last``) and signed
(``core.cursors``). Resuming checks it was made for this list (the owner is part of it) and
under the same sort and filters; a request may leave those out and take the cursor's.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from typing import Any

from core import cursors
from core.errors import InvalidInput
from store.paging import Page

FIELD = "query.cursor"
NOT_OURS = "is not a cursor this list made, or was altered"


def page_of(
    fetch: Callable[..., Page],
    *,
    scope: str,
    cursor: str | None,
    page: int | None,
    sort: str | None,
    default_sort: str,
    filters: dict[str, Any],
) -> Page:
    """``fetch(page=, sort=, last=, **filters)``'s page, by number or after ``cursor``, with the
    cursor that follows it. Raises InvalidInput naming ``query.cursor`` for a cursor not made for
    this list, sort and filters, or given with ``page``."""
    sort, filters, last = _resume(cursor, page, scope, sort, filters)
    sort = sort or default_sort
    try:
        found = fetch(page=page or 1, sort=sort, last=last, **filters)
    except (ValueError, TypeError):  # a signed cursor whose key no longer parses (a changed sort key)
        raise InvalidInput(FIELD, NOT_OURS) from None
    if found.last is None:
        return found
    made = {"o": scope, "s": sort, "f": filters, "k": found.last[0], "i": found.last[1]}
    return replace(found, cursor=cursors.encode(made))


def _resume(
    cursor: str | None, page: int | None, scope: str, sort: str | None, filters: dict[str, Any]
) -> tuple[str | None, dict[str, Any], tuple[Any, str] | None]:
    """(sort, filters, last row) to list with."""
    if cursor is None:
        return sort, filters, None
    if page is not None:
        raise InvalidInput(FIELD, "cannot be combined with page")
    made = _decoded(cursor)
    if made["o"] != scope:
        raise InvalidInput(FIELD, "was made for another list")
    if sort is not None and sort != made["s"]:
        raise InvalidInput(FIELD, "was made under another sort")
    if any(value is not None and value != made["f"].get(name) for name, value in filters.items()):
        raise InvalidInput(FIELD, "was made under other filters")
    return made["s"], made["f"], (made["k"], made["i"])


def _decoded(cursor: str) -> dict[str, Any]:
    try:
        made = cursors.decode(cursor)
        if not (isinstance(made["s"], str) and isinstance(made["f"], dict) and isinstance(made["i"], str)):
            raise cursors.CursorInvalid("malformed")
    except (cursors.CursorInvalid, KeyError):
        raise InvalidInput(FIELD, NOT_OURS) from None
    return made
