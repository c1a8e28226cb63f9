"""The spec's patterns mean on the server what they mean in ECMAScript, where clients run them.

OpenAPI patterns are ECMA-262 regular expressions. Each space, format and control character
(and a few neighbours) is put through the spec's own patterns in node (``u`` flag) and through
the server; they must agree on every one, and the server must trim exactly the spaces the
pattern's leading class names.
"""

from __future__ import annotations

import json
import subprocess
import unicodedata

import pytest

from app import load_spec

pytestmark = pytest.mark.node_only

API = "/api/v1"
SCHEMAS = load_spec()["components"]["schemas"]
CATEGORIES = {"Zs", "Zl", "Zp", "Cc", "Cf"}
CHARACTERS = [chr(c) for c in range(0x10000) if unicodedata.category(chr(c)) in CATEGORIES]
CHARACTERS += ["\u180e", "\u200b", "\u2060", "\U000e0020"]  # no longer spaces, or outside the BMP

NODE = r"""
const input = JSON.parse(require("fs").readFileSync(0, "utf8"));
const regex = new RegExp(input.pattern, "u");
const spaces = (input.pattern.match(/^\^(\[[^\]]*\])\*/) || [])[1];
const trim = spaces ? new RegExp(`^${spaces}+|${spaces}+$`, "gu") : /$^/u;
const out = input.strings.map((s) => [regex.test(s), s.replace(trim, "")]);
process.stdout.write(JSON.stringify(out));
"""


def ecmascript(pattern: str, strings: list[str]) -> list[tuple[bool, str]]:
    """Whether each string matches ``pattern`` in ECMAScript, and the string trimmed of the spaces
    in the pattern's leading class."""
    done = subprocess.run(
        ["node", "-e", NODE],
        input=json.dumps({"pattern": pattern, "strings": strings}),
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    )
    return [tuple(row) for row in json.loads(done.stdout)]


def shapes(char: str, core: str) -> list[str]:
    return [char, char + core + char, core[0] + char + core[1:]]


def disagreements(strings: list[str], expected: list[tuple[bool, str]], send) -> list[str]:
    found = []
    for text, (valid, trimmed) in zip(strings, expected, strict=True):
        status, stored = send(text)
        if (status < 300) != valid or (valid and stored != trimmed):
            found.append(f"{text!r}: ECMAScript {valid} {trimmed!r}, server {status} {stored!r}")
    return found


def test_titles_mean_the_same_on_the_server_as_in_ecmascript(client, accounts):
    auth = accounts.headers_for(accounts.create())
    strings = [s for char in CHARACTERS for s in shapes(char, "Ab")]

    def send(text: str) -> tuple[int, str | None]:
        response = client.post(f"{API}/projects", json={"name": text}, headers=auth)
        return response.status_code, response.json().get("name")

    found = disagreements(strings, ecmascript(SCHEMAS["Title"]["pattern"], strings), send)
    assert not found, f"{len(found)} of {len(strings)}:\n" + "\n".join(found[:40])


def test_person_names_mean_the_same_on_the_server_as_in_ecmascript(client, accounts):
    auth = accounts.headers_for(accounts.create())
    strings = [s for char in CHARACTERS for s in shapes(char, "Ann")]

    def send(text: str) -> tuple[int, str | None]:
        response = client.patch(f"{API}/users/me", json={"name": text}, headers=auth)
        return response.status_code, response.json().get("name")

    found = disagreements(strings, ecmascript(SCHEMAS["PersonName"]["pattern"], strings), send)
    assert not found, f"{len(found)} of {len(strings)}:\n" + "\n".join(found[:40])


@pytest.mark.parametrize("day", ["0000-01-01", "0001-01-01", "9999-12-31", "2026-02-28"])
def test_due_dates_mean_the_same_on_the_server_as_in_ecmascript(client, accounts, day):
    auth = accounts.headers_for(accounts.create())
    project = client.post(f"{API}/projects", json={"name": "Dates"}, headers=auth).json()
    [(valid, _)] = ecmascript(SCHEMAS["DueDate"]["pattern"], [day])
    response = client.post(
        f"{API}/projects/{project['id']}/milestones", json={"title": "T", "dueDate": day}, headers=auth
    )
    assert (response.status_code == 201) == valid, response.text


def test_every_pattern_in_the_spec_compiles_as_ecmascript_with_the_u_flag():
    patterns = sorted(_patterns(load_spec()))
    for pattern in patterns:
        done = subprocess.run(
            ["node", "-e", f"new RegExp({json.dumps(pattern)}, 'u')"], capture_output=True, check=False
        )
        assert done.returncode == 0, f"{pattern}: {done.stderr.decode()[:300]}"


def _patterns(node) -> set[str]:
    if isinstance(node, dict):
        found = {node["pattern"]} if isinstance(node.get("pattern"), str) else set()
        return found.union(*(_patterns(v) for v in node.values()))
    if isinstance(node, list):
        return set().union(*(_patterns(v) for v in node))
    return set()
