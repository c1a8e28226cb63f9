"""``web/preconditions.py``: entity tags and the two comparisons of RFC 9110 §8.8.3.2."""

from __future__ import annotations

import pytest

from web.preconditions import MILESTONE, PROJECT, PROJECT_DETAIL, etag, expected_versions, none_match


def test_tags_are_strong_and_name_their_kind():
    assert etag(PROJECT_DETAIL, 3) == '"project-detail-3"'
    assert len({etag(kind, 3) for kind in (PROJECT, PROJECT_DETAIL, MILESTONE)}) == 3


@pytest.mark.parametrize(
    ("header", "matches"),
    [
        (None, False),
        ('"project-detail-3"', True),
        ('W/"project-detail-3"', True),  # weak comparison
        ('"project-detail-2", "project-detail-3"', True),
        ('"a",W/"project-detail-3"', True),
        ("*", True),
        (" * ", True),
        ('"project-detail-2"', False),
        ('"project-3"', False),  # another body's tag
        ('"project-detail-03"', False),
    ],
)
def test_if_none_match_is_the_weak_comparison(header, matches):
    assert none_match(header, etag(PROJECT_DETAIL, 3)) is matches


@pytest.mark.parametrize(
    ("header", "versions"),
    [
        (None, None),
        ("*", None),
        ('"project-detail-3"', {3}),
        ('"project-3", "project-detail-4"', {3, 4}),
        ('W/"project-detail-3"', set()),  # strong comparison: never a weak tag
        ('"milestone-3"', set()),  # another kind
        ('"project-detail-03"', set()),  # not a tag we ever sent
        ('"project-detail-0"', set()),
        ('"project-detail-x"', set()),
        ('"project-detail-99999999999"', set()),  # past the column's range: never stored
        ('"anything"', set()),
    ],
)
def test_if_match_becomes_the_versions_a_write_may_proceed_from(header, versions):
    found = expected_versions(header, PROJECT_DETAIL, PROJECT)
    assert (None if found is None else set(found)) == versions
