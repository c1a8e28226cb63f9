"""Test-only hooks, loaded into an e2e worker with ``-I tests.e2e.worker_hooks`` (never in production).

While the file named by ``E2E_TASK_GATE`` exists, the audit task stops after claiming its
outbox row and before writing, and leaves ``<gate>.held.<pid>`` (holding the row id) so a
test knows which pool process to kill mid-task. Removing the gate lets it finish.
"""

from __future__ import annotations

import os
import time
from pathlib import Path

import tasks.audit

GATE = Path(os.environ["E2E_TASK_GATE"])
_write = tasks.audit._write


def _gated_write(message) -> None:
    if GATE.exists():
        GATE.with_name(f"{GATE.name}.held.{os.getpid()}").write_text(str(message.id))
        while GATE.exists():
            time.sleep(0.05)
    _write(message)


tasks.audit._write = _gated_write
