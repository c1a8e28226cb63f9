"""Entity tags and the conditional requests they serve (RFC 9110 §8.8.3 and §13.1.1–13.1.2).

A tag is strong and made from a row's stored ``version``, never by hashing a body:
``"<kind>-<version>"``, where the kind names the body it was sent with (``project`` for the
``Project`` of a create, ``project-detail`` for the ``ProjectDetail`` of a read or a change,
``milestone``), so one tag never names two different bodies.

What a use case sees is plain versions: ``If-Match`` becomes the versions a write may proceed
from (``expected_versions``), and ``If-None-Match`` is compared here, against the tag of what a
read found. Header syntax is the spec's business (a malformed value is a 400 before any handler
runs); this module still reads any value without failing.
"""

from __future__ import annotations

import re
from collections.abc import Collection

PROJECT = "project"
PROJECT_DETAIL = "project-detail"
MILESTONE = "milestone"

ANY = "*"
MAX_VERSION = 2**31 - 1  # the column is a 32-bit INTEGER
_ENTITY_TAG = re.compile(r'(W/)?"([^"]*)"')
_OURS = re.compile(r"([a-z-]+)-([1-9][0-9]{0,9})")


def etag(kind: str, version: int) -> str:
    """The strong entity tag of the ``kind`` body of a row at ``version``."""
    return f'"{kind}-{version}"'


def _tags(value: str) -> list[tuple[bool, str]]:
    """Each ``(weak, opaque-tag)`` listed in an ``If-Match`` or ``If-None-Match`` value."""
    return [(bool(weak), f'"{opaque}"') for weak, opaque in _ENTITY_TAG.findall(value)]


def none_match(header: str | None, current: str) -> bool:
    """Whether ``If-None-Match`` matches the ``current`` tag, so a ``GET`` answers 304.

    Weak comparison: ``W/"x"`` matches ``"x"``; ``*`` matches any current representation.
    """
    if header is None:
        return False
    if header.strip() == ANY:
        return True
    return any(opaque == current for _, opaque in _tags(header))


def expected_versions(header: str | None, *kinds: str) -> Collection[int] | None:
    """The versions an ``If-Match`` lets a write proceed from: ``None`` (unconditional) without one
    or for ``*`` (any current representation: the use case answers NotFound if there is none).

    Strong comparison: a weak tag never matches, nor does a tag of another kind or one that is not
    ours, so the set may be empty (then only PreconditionFailed or NotFound can follow).
    """
    if header is None or header.strip() == ANY:
        return None
    versions = set()
    for weak, opaque in _tags(header):
        ours = _OURS.fullmatch(opaque.strip('"'))
        if not weak and ours and ours[1] in kinds and int(ours[2]) <= MAX_VERSION:
            versions.add(int(ours[2]))
    return frozenset(versions)
