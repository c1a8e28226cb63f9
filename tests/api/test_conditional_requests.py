"""Entity tags on projects and milestones over HTTP: `ETag` on every single-resource answer,
`If-None-Match` → 304 on reads, `If-Match` → 412 on changes and deletes (issue 25)."""

from __future__ import annotations

import re

import pytest

from tests.api.test_projects import BASE, add_milestone, create, error_of
from tests.concurrency import at_once

STRONG_TAG = re.compile(r'"[\x21\x23-\x7e]*"')


def tag_of(response) -> str:
    tag = response.headers["etag"]
    assert STRONG_TAG.fullmatch(tag), tag
    return tag


def weak(tag: str) -> str:
    return f"W/{tag}"


@pytest.fixture
def project(client, owner) -> dict:
    return create(client, owner[1], name="Summit route", description="North ridge")


def project_url(project: dict) -> str:
    return f"{BASE}/{project['id']}"


def milestone_url(milestone: dict) -> str:
    return f"{BASE}/{milestone['projectId']}/milestones/{milestone['id']}"


def get_tag(client, headers, url: str) -> str:
    response = client.get(url, headers=headers)
    assert response.status_code == 200, response.text
    return tag_of(response)


# --- ETag: on every single project or milestone, moved by every change --------------------------


def test_every_single_resource_answer_carries_a_strong_tag(client, owner):
    _, headers = owner
    created = client.post(BASE, json={"name": "P"}, headers=headers)
    assert created.status_code == 201
    project = created.json()
    tags = [tag_of(created), get_tag(client, headers, project_url(project))]
    patched = client.patch(project_url(project), json={"status": "inactive"}, headers=headers)
    tags.append(tag_of(patched))
    added = client.post(f"{project_url(project)}/milestones", json={"title": "M"}, headers=headers)
    milestone = added.json()
    tags += [tag_of(added), get_tag(client, headers, milestone_url(milestone))]
    tags.append(tag_of(client.patch(milestone_url(milestone), json={"status": "done"}, headers=headers)))
    assert all(not tag.startswith("W/") for tag in tags)


def test_a_tag_stays_while_the_representation_stays(client, owner, project):
    _, headers = owner
    first = client.get(project_url(project), headers=headers)
    second = client.get(project_url(project), headers=headers)
    assert (tag_of(first), first.json()) == (tag_of(second), second.json())
    milestone = add_milestone(client, headers, project["id"])
    assert get_tag(client, headers, milestone_url(milestone)) == get_tag(client, headers, milestone_url(milestone))


def test_the_create_tag_never_names_the_detail_body(client, owner):
    """The 201's body is a `Project`, GET's a `ProjectDetail` (with milestones): two bodies, two tags."""
    _, headers = owner
    created = client.post(BASE, json={"name": "P"}, headers=headers)
    assert tag_of(created) != get_tag(client, headers, created.headers["location"])


def test_a_change_moves_the_tag_and_answers_the_new_one(client, owner, project):
    _, headers = owner
    before = get_tag(client, headers, project_url(project))
    patched = client.patch(project_url(project), json={"name": "Renamed"}, headers=headers)
    assert patched.status_code == 200
    assert tag_of(patched) != before
    assert tag_of(patched) == get_tag(client, headers, project_url(project))


def test_the_project_tag_moves_with_each_write_to_its_milestones(client, owner, project):
    _, headers = owner
    seen = [get_tag(client, headers, project_url(project))]
    milestone = add_milestone(client, headers, project["id"])
    seen.append(get_tag(client, headers, project_url(project)))
    milestone_tag = get_tag(client, headers, milestone_url(milestone))
    changed = client.patch(milestone_url(milestone), json={"title": "Scout"}, headers=headers)
    assert tag_of(changed) != milestone_tag
    assert tag_of(changed) == get_tag(client, headers, milestone_url(milestone))
    seen.append(get_tag(client, headers, project_url(project)))
    assert client.delete(milestone_url(milestone), headers=headers).status_code == 204
    seen.append(get_tag(client, headers, project_url(project)))
    assert len(set(seen)) == 4, seen


def test_a_milestone_tag_does_not_move_with_its_siblings(client, owner, project):
    _, headers = owner
    milestone = add_milestone(client, headers, project["id"])
    before = get_tag(client, headers, milestone_url(milestone))
    sibling = add_milestone(client, headers, project["id"], title="Other")
    client.patch(milestone_url(sibling), json={"status": "done"}, headers=headers)
    client.patch(project_url(project), json={"name": "Renamed"}, headers=headers)
    assert get_tag(client, headers, milestone_url(milestone)) == before


# --- If-None-Match on GET: 304 with the tag, no body ----------------------------------------------


def not_modified(response, tag: str) -> None:
    assert response.status_code == 304, response.text
    assert response.content == b""
    assert "content-length" not in response.headers or response.headers["content-length"] == "0"
    assert response.headers["etag"] == tag


@pytest.mark.parametrize(
    "held",
    [
        "{tag}",
        "W/{tag}",  # weak comparison
        '"project-detail-999", {tag}',
        'W/"x",W/{tag} ',
        "*",
    ],
    ids=["same", "weak", "in-a-list", "weak-in-a-list", "any"],
)
def test_get_with_a_current_tag_is_304(client, owner, project, held):
    _, headers = owner
    tag = get_tag(client, headers, project_url(project))
    not_modified(client.get(project_url(project), headers={**headers, "If-None-Match": held.format(tag=tag)}), tag)
    milestone = add_milestone(client, headers, project["id"])
    tag = get_tag(client, headers, milestone_url(milestone))
    not_modified(client.get(milestone_url(milestone), headers={**headers, "If-None-Match": held.format(tag=tag)}), tag)


def test_get_with_a_stale_tag_is_the_whole_resource(client, owner, project):
    _, headers = owner
    stale = get_tag(client, headers, project_url(project))
    add_milestone(client, headers, project["id"])
    response = client.get(project_url(project), headers={**headers, "If-None-Match": stale})
    assert response.status_code == 200
    assert len(response.json()["milestones"]) == 1
    assert tag_of(response) != stale


def test_the_create_tag_does_not_revalidate_the_detail(client, owner):
    """A 304 would tell the caller its `Project` body is the `ProjectDetail`: it is not."""
    _, headers = owner
    created = client.post(BASE, json={"name": "P"}, headers=headers)
    response = client.get(created.headers["location"], headers={**headers, "If-None-Match": tag_of(created)})
    assert response.status_code == 200
    assert response.json()["milestones"] == []


def test_a_missing_resource_is_404_whatever_the_tags(client, owner, project):
    _, headers = owner
    client.delete(project_url(project), headers=headers)
    error_of(client.get(project_url(project), headers={**headers, "If-None-Match": "*"}), 404, "NOT_FOUND")
    error_of(
        client.patch(project_url(project), json={"name": "x"}, headers={**headers, "If-Match": "*"}), 404, "NOT_FOUND"
    )
    error_of(client.delete(project_url(project), headers={**headers, "If-Match": '"x"'}), 404, "NOT_FOUND")


def test_a_head_with_a_current_tag_is_304(client, owner, project):
    _, headers = owner
    tag = get_tag(client, headers, project_url(project))
    not_modified(client.head(project_url(project), headers={**headers, "If-None-Match": tag}), tag)


# --- If-Match on PATCH and DELETE: 412 and nothing changes ----------------------------------------


def test_patch_with_a_stale_tag_is_412_and_changes_nothing(client, owner, project):
    _, headers = owner
    stale = get_tag(client, headers, project_url(project))
    current = tag_of(client.patch(project_url(project), json={"name": "Theirs"}, headers=headers))
    refused = client.patch(project_url(project), json={"name": "Mine"}, headers={**headers, "If-Match": stale})
    error = error_of(refused, 412, "PRECONDITION_FAILED")
    assert error["message"]
    after = client.get(project_url(project), headers=headers)
    assert (after.json()["name"], tag_of(after)) == ("Theirs", current)


@pytest.mark.parametrize(
    ("if_match", "status"),
    [
        ("{tag}", 200),
        ('"project-detail-999", {tag}', 200),
        ("*", 200),
        ("W/{tag}", 412),  # strong comparison: a weak tag never matches
        ("{padded}", 412),  # "project-detail-01" is not "project-detail-1"
        ('"milestone-1"', 412),  # another kind's tag
        ('"anything"', 412),
    ],
    ids=["current", "in-a-list", "any", "weak", "padded", "other-kind", "not-ours"],
)
def test_patch_proceeds_only_on_a_strong_match(client, owner, project, if_match, status):
    _, headers = owner
    tag = get_tag(client, headers, project_url(project))
    response = client.patch(
        project_url(project),
        json={"name": "Mine"},
        headers={**headers, "If-Match": if_match.format(tag=tag, padded=tag[:-2] + "0" + tag[-2:])},
    )
    assert response.status_code == status, response.text
    name = client.get(project_url(project), headers=headers).json()["name"]
    assert name == ("Mine" if status == 200 else "Summit route")


def test_the_create_tag_is_accepted_until_the_project_changes(client, owner):
    """The 201's tag names the same stored version as the detail's: create, then change conditionally."""
    _, headers = owner
    created = client.post(BASE, json={"name": "P"}, headers=headers)
    url, tag = created.headers["location"], tag_of(created)
    assert client.patch(url, json={"name": "Q"}, headers={**headers, "If-Match": tag}).status_code == 200
    error_of(client.patch(url, json={"name": "R"}, headers={**headers, "If-Match": tag}), 412, "PRECONDITION_FAILED")


def test_patch_without_if_match_proceeds_as_before(client, owner, project):
    _, headers = owner
    client.patch(project_url(project), json={"name": "Theirs"}, headers=headers)
    assert client.patch(project_url(project), json={"name": "Mine"}, headers=headers).status_code == 200


def test_a_milestone_write_makes_a_held_project_tag_stale(client, owner, project):
    _, headers = owner
    tag = get_tag(client, headers, project_url(project))
    add_milestone(client, headers, project["id"])
    refused = client.patch(project_url(project), json={"name": "Mine"}, headers={**headers, "If-Match": tag})
    error_of(refused, 412, "PRECONDITION_FAILED")


def test_delete_with_a_stale_tag_is_412_and_deletes_nothing(client, owner, project):
    _, headers = owner
    stale = get_tag(client, headers, project_url(project))
    milestone = add_milestone(client, headers, project["id"])
    # The precondition comes first: not the 409 a live milestone would give without cascade.
    error_of(client.delete(project_url(project), headers={**headers, "If-Match": stale}), 412, "PRECONDITION_FAILED")
    assert client.get(milestone_url(milestone), headers=headers).status_code == 200
    current = get_tag(client, headers, project_url(project))
    deleted = client.delete(f"{project_url(project)}?cascade=true", headers={**headers, "If-Match": current})
    assert deleted.status_code == 204
    assert client.get(project_url(project), headers=headers).status_code == 404


def test_milestone_patch_and_delete_check_the_milestone_tag(client, owner, project):
    _, headers = owner
    milestone = add_milestone(client, headers, project["id"])
    url = milestone_url(milestone)
    stale = get_tag(client, headers, url)
    current = tag_of(client.patch(url, json={"title": "Theirs"}, headers=headers))
    error_of(
        client.patch(url, json={"title": "Mine"}, headers={**headers, "If-Match": stale}), 412, "PRECONDITION_FAILED"
    )
    error_of(
        client.patch(url, json={"title": "Mine"}, headers={**headers, "If-Match": weak(current)}),
        412,
        "PRECONDITION_FAILED",
    )
    error_of(client.delete(url, headers={**headers, "If-Match": stale}), 412, "PRECONDITION_FAILED")
    assert client.get(url, headers=headers).json()["title"] == "Theirs"
    # The project's own tag is not the milestone's.
    project_tag = get_tag(client, headers, project_url(project))
    error_of(client.delete(url, headers={**headers, "If-Match": project_tag}), 412, "PRECONDITION_FAILED")
    changed = client.patch(url, json={"title": "Mine"}, headers={**headers, "If-Match": current})
    assert changed.status_code == 200
    assert client.delete(url, headers={**headers, "If-Match": tag_of(changed)}).status_code == 204


@pytest.mark.parametrize(
    "value", ["project-detail-1", '"a", ', 'W/ "a"', '"a" "b"', '"a"b"', "**", b'"\xe9"'], ids=repr
)
def test_a_malformed_tag_list_is_400_naming_the_header(client, owner, project, value):
    _, headers = owner
    for method, header in (("patch", "If-Match"), ("get", "If-None-Match")):
        kwargs = {"json": {"name": "x"}} if method == "patch" else {}
        response = getattr(client, method)(project_url(project), headers={**headers, header: value}, **kwargs)
        error = error_of(response, 400, "VALIDATION_ERROR")
        assert error["details"][0]["field"] == f"header.{header}"


# --- The check and the write are one step ---------------------------------------------------------


def test_two_patches_holding_one_tag_at_once_one_wins(client, owner, project):
    _, headers = owner
    tag = get_tag(client, headers, project_url(project))
    conditional = {**headers, "If-Match": tag}
    names = iter(["First", "Second"])
    answers = at_once(2, lambda: client.patch(project_url(project), json={"name": next(names)}, headers=conditional))
    assert sorted(answer.status_code for answer in answers) == [200, 412], [a.text for a in answers]
    [winner] = [answer for answer in answers if answer.status_code == 200]
    after = client.get(project_url(project), headers=headers)
    assert (after.json()["name"], tag_of(after)) == (winner.json()["name"], tag_of(winner))


def test_two_milestone_patches_holding_one_tag_at_once_one_wins(client, owner, project):
    _, headers = owner
    url = milestone_url(add_milestone(client, headers, project["id"]))
    conditional = {**headers, "If-Match": get_tag(client, headers, url)}
    titles = iter(["First", "Second"])
    answers = at_once(2, lambda: client.patch(url, json={"title": next(titles)}, headers=conditional))
    assert sorted(answer.status_code for answer in answers) == [200, 412], [a.text for a in answers]
    [winner] = [answer for answer in answers if answer.status_code == 200]
    assert client.get(url, headers=headers).json()["title"] == winner.json()["title"]
