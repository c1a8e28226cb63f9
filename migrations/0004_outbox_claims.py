"""Which delivery of a task holds an outbox row, so a redelivery after a worker died can take it back at once."""


def upgrade(m) -> None:
    m.execute("ALTER TABLE outbox ADD COLUMN claimed_by VARCHAR(64)")
