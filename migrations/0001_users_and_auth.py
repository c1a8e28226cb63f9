"""Users, sessions, refresh tokens, one-time tokens and login throttles."""


def upgrade(m) -> None:
    m.execute("""
    CREATE TABLE users (
        id {uuid} NOT NULL PRIMARY KEY,
        email VARCHAR(254) NOT NULL,
        password_hash VARCHAR(100) NOT NULL,
        name VARCHAR(100) NOT NULL,
        role VARCHAR(16) NOT NULL DEFAULT 'user',
        email_verified_at {ts},
        created_at {ts} NOT NULL,
        updated_at {ts} NOT NULL,
        deleted_at {ts}
    );
    CREATE INDEX users_email ON users (email);
    CREATE INDEX users_deleted_at ON users (deleted_at);
    CREATE UNIQUE INDEX users_live_email_key ON users (LOWER(email)) WHERE deleted_at IS NULL;

    CREATE TABLE sessions (
        id {uuid} NOT NULL PRIMARY KEY,
        user_id {uuid} NOT NULL REFERENCES users (id) ON DELETE CASCADE,
        created_at {ts} NOT NULL,
        expires_at {ts} NOT NULL,
        last_used_at {ts} NOT NULL,
        revoked_at {ts},
        ip VARCHAR(64),
        user_agent VARCHAR(512)
    );
    CREATE INDEX sessions_user_id ON sessions (user_id);
    CREATE INDEX sessions_expires_at ON sessions (expires_at);

    CREATE TABLE refresh_tokens (
        id {uuid} NOT NULL PRIMARY KEY,
        session_id {uuid} NOT NULL REFERENCES sessions (id) ON DELETE CASCADE,
        token_hash VARCHAR(64) NOT NULL,
        created_at {ts} NOT NULL,
        used_at {ts}
    );
    CREATE INDEX refresh_tokens_session_id ON refresh_tokens (session_id);
    CREATE UNIQUE INDEX refresh_tokens_token_hash ON refresh_tokens (token_hash);

    CREATE TABLE one_time_tokens (
        id {uuid} NOT NULL PRIMARY KEY,
        user_id {uuid} NOT NULL REFERENCES users (id) ON DELETE CASCADE,
        purpose VARCHAR(32) NOT NULL,
        token_hash VARCHAR(64) NOT NULL,
        created_at {ts} NOT NULL,
        expires_at {ts} NOT NULL,
        used_at {ts}
    );
    CREATE INDEX one_time_tokens_user_id ON one_time_tokens (user_id);
    CREATE INDEX one_time_tokens_expires_at ON one_time_tokens (expires_at);
    CREATE UNIQUE INDEX one_time_tokens_token_hash ON one_time_tokens (token_hash);

    CREATE TABLE login_throttles (
        id {uuid} NOT NULL PRIMARY KEY,
        email VARCHAR(254) NOT NULL,
        failures INTEGER NOT NULL DEFAULT 0,
        window_started_at {ts} NOT NULL,
        locked_until {ts}
    );
    CREATE UNIQUE INDEX login_throttles_email ON login_throttles (email)
    """)
