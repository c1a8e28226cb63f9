"""SQLite: a process that opens a fresh database file while another holds a write lock on it."""

from __future__ import annotations

import sqlite3
import threading

from store.database import make_database


def test_connecting_waits_out_a_writer_instead_of_failing_to_switch_to_wal(tmp_path):
    path = tmp_path / "fresh.db"
    writer = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
    writer.execute("CREATE TABLE t (x)")  # still in rollback-journal mode
    writer.execute("BEGIN IMMEDIATE")  # a writer mid-transaction: the switch to WAL cannot lock
    threading.Timer(0.3, writer.execute, ["COMMIT"]).start()

    database = make_database(f"sqlite:///{path}")
    database.connect()  # raised "database is locked" at once before the retry

    assert database.execute_sql("PRAGMA journal_mode").fetchone()[0] == "wal"
    database.close()
    writer.close()
