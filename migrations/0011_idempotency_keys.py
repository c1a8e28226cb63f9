"""Idempotency keys for the creates (``Idempotency-Key``): one row per user, operation and key,
unique, holding the request's fingerprint and, once done, the response to replay for 24 hours."""


def upgrade(m) -> None:
    m.execute("""
    CREATE TABLE idempotency_keys (
        id {uuid} NOT NULL PRIMARY KEY,
        user_id {uuid} NOT NULL REFERENCES users (id) ON DELETE CASCADE,
        operation VARCHAR(64) NOT NULL,
        idempotency_key VARCHAR(255) NOT NULL,
        fingerprint VARCHAR(64) NOT NULL,
        state VARCHAR(16) NOT NULL DEFAULT 'in_progress',
        claim_id {uuid},
        locked_until {ts},
        response_status INTEGER,
        response_body TEXT,
        response_headers TEXT,
        created_at {ts} NOT NULL,
        expires_at {ts} NOT NULL
    );
    CREATE UNIQUE INDEX idempotency_keys_user_operation_key ON idempotency_keys (user_id, operation, idempotency_key);
    CREATE INDEX idempotency_keys_expires_at ON idempotency_keys (expires_at)
    """)
