"""Admins can disable an account (``users.disabled_at``: no login, every session ended, its own state
apart from an unverified email) and see when it last logged in (``users.last_login_at``, set by each
login with a password: sessions are purged a week after they expire, so they cannot tell)."""


def upgrade(m) -> None:
    m.execute("ALTER TABLE users ADD COLUMN disabled_at {ts} NULL")
    m.execute("ALTER TABLE users ADD COLUMN last_login_at {ts} NULL")
