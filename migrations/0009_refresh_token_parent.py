"""Each rotated refresh token remembers its parent (``parent_id``), so a token rotated moments ago
can be answered with the very token its rotation returned (``REFRESH_REUSE_GRACE_SECONDS``): that
token is derived from the parent's id, never stored. Unique: a token is rotated at most once."""


def upgrade(m) -> None:
    m.execute("ALTER TABLE refresh_tokens ADD COLUMN parent_id {uuid} NULL")
    m.execute("CREATE UNIQUE INDEX refresh_tokens_parent_id ON refresh_tokens (parent_id)")
