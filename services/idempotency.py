"""Idempotency keys: a create retried with the same key happens once, and the retry gets the
first answer again (the IETF draft ``draft-ietf-httpapi-idempotency-key-header``, Stripe).

A key belongs to one user and one operation; its request is the fingerprint of the body and the
path parameters (SHA-256 of canonical JSON), so the same key on another project's milestones is
a different request. The caller hands ``once`` a function that does the work and returns the
response to keep (``StoredResponse``: status, JSON body, the headers that describe it); this module never renders
HTTP itself.

How a key goes through its life, the same on PostgreSQL and SQLite:

1. **Claim**, in its own short transaction: the key is inserted ``in_progress`` with a claim id
   and a lease (``LEASE``). The unique (user, operation, key) index decides between concurrent
   requests: exactly one inserts; every other one finds the row and answers from it.
2. **Work and complete**, in one transaction: the create runs, and the response is stored under
   the key (``done``, kept ``RETENTION``) by an UPDATE conditional on the claim id. The project
   and its stored response commit together or not at all. A 4xx or 5xx (a raised error, or a
   non-2xx result) stores nothing: the claim is deleted and the client may fix the request and
   retry with the same key.
3. **Another request with the key** finds the row: a different fingerprint is
   ``IdempotencyKeyMismatch`` (even while the first still runs); ``done`` is replayed; ``in_progress``
   under a live lease is ``IdempotencyKeyInUse`` (retry after ``RETRY_AFTER_SECONDS``).

A request that died between 1 and 2 (a crash, a lost connection) leaves an ``in_progress`` row with
no project: when its lease runs out the next request with the key takes the claim over (a
conditional UPDATE, so one taker wins) and does the work. Should the first request be alive after
all, its conditional completion finds the claim gone and raises ``IdempotencyKeyInUse`` inside the
work's transaction, so its create rolls back: a slow request never makes a second project.

Why the claim commits before the work instead of inside the create's transaction: a concurrent
request can then *see* that the key is in use and answer 409 at once. Inside one transaction,
PostgreSQL makes the second INSERT wait on the unique index until the first commits, and SQLite
(one writer at a time, ``BEGIN IMMEDIATE``) makes the second request wait for the write lock: the
"still running" answer would never be given. The lease is the price; the conditional completion
keeps it from ever costing a duplicate.
"""

from __future__ import annotations

import hashlib
import json
import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any, NamedTuple

from core.errors import IdempotencyKeyInUse, IdempotencyKeyMismatch
from models.db import utcnow
from models.idempotency import DONE
from store import idempotency as store
from store.database import writing
from store.idempotency import Claim

log = logging.getLogger("cairn.idempotency")

RETENTION = timedelta(hours=24)  # how long a response is replayed (the daily purge deletes it after)
LEASE = timedelta(seconds=30)  # far above a create's time (5 s statement timeout, 2 s pool wait)
RETRY_AFTER_SECONDS = 1  # a live request with the key finishes within it, as a rule
CLAIM_ATTEMPTS = 3

clock = utcnow  # tests move it


@dataclass(frozen=True)
class StoredResponse:
    """What a create answered: kept under its key when ``status`` is 2xx, and replayed."""

    status: int
    body: Any  # JSON-serialisable
    headers: Mapping[str, str] = field(default_factory=dict)  # e.g. Location and ETag


class Once(NamedTuple):
    response: StoredResponse
    replayed: bool  # True: the stored response of an earlier request with the key


def fingerprint(request: Mapping[str, Any]) -> str:
    """SHA-256 (hex) of the request as canonical JSON (sorted keys, no spaces, UTF-8)."""
    canonical = json.dumps(request, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(canonical.encode("utf-8")).hexdigest()


def once(
    user_id: Any, operation: str, key: str | None, request: Mapping[str, Any], work: Callable[[], StoredResponse]
) -> Once:
    """Run ``work`` at most once per (user, operation, key); without a key, just run it.

    Raises IdempotencyKeyMismatch (the key came with another request), IdempotencyKeyInUse (a
    request with the key is still running), and whatever ``work`` raises (then nothing is kept).
    """
    if key is None:
        return Once(work(), replayed=False)
    claimed = claim(user_id, operation, key, fingerprint(request))
    if isinstance(claimed, StoredResponse):
        return Once(claimed, replayed=True)
    return Once(run_claimed(claimed, work), replayed=False)


def claim(user_id: Any, operation: str, key: str, request_fingerprint: str) -> Claim | StoredResponse:
    """The key claimed for this request, or the stored response to replay.

    Raises IdempotencyKeyMismatch or IdempotencyKeyInUse.
    """
    for _ in range(CLAIM_ATTEMPTS):
        now = clock()
        row = store.find(user_id, operation, key)
        if row is None:
            claimed = store.claim(
                user_id, operation, key, request_fingerprint, now, lease_until=now + LEASE, expires_at=now + RETENTION
            )
            if claimed is not None:
                return claimed
            continue  # a concurrent request inserted it first: read what it wrote
        if row.expires_at <= now:
            store.forget_expired(row, now)  # past its 24 hours: the key is new again
            continue
        if row.fingerprint != request_fingerprint:
            raise IdempotencyKeyMismatch()
        if row.state == DONE:
            return StoredResponse(row.response_status, json.loads(row.response_body), json.loads(row.response_headers))
        if row.locked_until is not None and row.locked_until > now:
            raise IdempotencyKeyInUse(RETRY_AFTER_SECONDS)
        claimed = store.take_over(row, now, lease_until=now + LEASE)  # its request died
        if claimed is not None:
            return claimed
    raise IdempotencyKeyInUse(RETRY_AFTER_SECONDS)


def run_claimed(claimed: Claim, work: Callable[[], StoredResponse]) -> StoredResponse:
    """Run ``work`` and keep a 2xx response under the key, in one transaction; otherwise release
    the key. Raises IdempotencyKeyInUse (and rolls the work back) if the claim was taken over."""
    try:
        with writing():
            response = work()
            if _succeeded(response):
                body = json.dumps(response.body, separators=(",", ":"), ensure_ascii=False)
                headers = json.dumps(dict(response.headers), separators=(",", ":"))
                kept = store.complete(claimed, response.status, body, headers, expires_at=clock() + RETENTION)
                if not kept:  # our lease ran out and another request holds the key: undo our work
                    raise IdempotencyKeyInUse(RETRY_AFTER_SECONDS)
    except BaseException:
        _release(claimed)
        raise
    if not _succeeded(response):
        _release(claimed)
    return response


def _succeeded(response: StoredResponse) -> bool:
    return 200 <= response.status < 300


def _release(claimed: Claim) -> None:
    """Let the client retry with the key at once; if this fails too (the database is gone), the
    lease frees the key."""
    try:
        store.release(claimed)
    except Exception:
        log.warning("could not release an idempotency key; its lease will", exc_info=True)
