"""The contract as written, served at ``/api/v1/openapi.json`` and ``/api/v1/openapi.yaml``.

Connexion serves its own copy instead: every ``$ref`` inlined (~500 KB of JSON, ~850 KB
of YAML for a ~90 KB file), ``servers`` rewritten, and the whole thing re-resolved and
re-rendered on every request (0.15 s of CPU for the JSON, 0.8 s for the YAML, before any
rate limit applies). A client generated from that copy gets a model per error response
of every operation (over a thousand) instead of the spec's named schemas. So Connexion's
copy is off (``serve_spec=False``; its docs UI still reads the JSON path) and this
middleware serves the file: the YAML byte for byte, the JSON rendered once at start-up.
"""

from __future__ import annotations

import json
from pathlib import Path

import yaml
from starlette.responses import Response
from starlette.types import ASGIApp, Receive, Scope, Send


def documents(spec_file: Path, json_path: str) -> dict[str, tuple[bytes, str]]:
    """``{path: (body, media type)}`` for the JSON path and its ``.yaml`` twin."""
    text = spec_file.read_bytes()
    # default=str: YAML turns an unquoted date into a date object; JSON wants the text back.
    as_json = json.dumps(yaml.safe_load(text), default=str).encode()
    return {json_path: (as_json, "application/json"), json_path.removesuffix(".json") + ".yaml": (text, "text/yaml")}


class SpecDocumentsMiddleware:
    """Answers ``GET`` on the spec paths with the pre-rendered documents; passes everything else on."""

    def __init__(self, app: ASGIApp, documents: dict[str, tuple[bytes, str]]) -> None:
        self.app = app
        self.documents = documents

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        document = self.documents.get(scope["path"]) if scope["type"] == "http" and scope["method"] == "GET" else None
        if document is None:
            await self.app(scope, receive, send)
            return
        body, media_type = document
        await Response(body, media_type=media_type)(scope, receive, send)
