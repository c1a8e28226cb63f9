"""Audit events by target: "events about this user" (actor or target) without a table scan."""


def upgrade(m) -> None:
    m.execute("CREATE INDEX audit_logs_target_created_idx ON audit_logs (target_type, target_id, created_at)")
