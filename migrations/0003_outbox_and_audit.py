"""The transactional outbox and the audit trail."""


def upgrade(m) -> None:
    m.execute("""
    CREATE TABLE outbox (
        id {uuid} NOT NULL PRIMARY KEY,
        task VARCHAR(64) NOT NULL,
        queue VARCHAR(32) NOT NULL,
        payload TEXT NOT NULL,
        topic VARCHAR(300),
        state VARCHAR(16) NOT NULL DEFAULT 'pending',
        attempts INTEGER NOT NULL DEFAULT 0,
        last_error TEXT,
        request_id VARCHAR(128),
        created_at {ts} NOT NULL,
        available_at {ts} NOT NULL,
        lease_until {ts},
        finished_at {ts}
    );
    CREATE INDEX outbox_state_available_idx ON outbox (state, available_at);
    CREATE INDEX outbox_topic_created_idx ON outbox (topic, created_at);

    CREATE TABLE audit_logs (
        id {uuid} NOT NULL PRIMARY KEY,
        action VARCHAR(64) NOT NULL,
        actor_id {uuid} REFERENCES users (id) ON DELETE SET NULL,
        target_type VARCHAR(32),
        target_id VARCHAR(64),
        ip VARCHAR(64),
        user_agent VARCHAR(512),
        request_id VARCHAR(128),
        details TEXT,
        created_at {ts} NOT NULL,
        outbox_id {uuid} NOT NULL
    );
    CREATE INDEX audit_logs_action ON audit_logs (action);
    CREATE INDEX audit_logs_actor_id ON audit_logs (actor_id);
    CREATE INDEX audit_logs_actor_created_idx ON audit_logs (actor_id, created_at);
    CREATE INDEX audit_logs_created_idx ON audit_logs (created_at);
    CREATE UNIQUE INDEX audit_logs_outbox_id ON audit_logs (outbox_id)
    """)
