"""What an email-change token is about, on the token's own row: ``email`` is the address it
concerns (the new one for a confirmation, the old one for a revert) and ``session_id`` the
session that asked for the change (kept alive when it is confirmed). Both are NULL for the
other purposes. ``email`` is indexed: a live revert token keeps its old address reserved."""


def upgrade(m) -> None:
    m.execute("ALTER TABLE one_time_tokens ADD COLUMN email VARCHAR(254) NULL")
    m.execute("ALTER TABLE one_time_tokens ADD COLUMN session_id {uuid} NULL")
    m.execute("CREATE INDEX one_time_tokens_email ON one_time_tokens (email)")
