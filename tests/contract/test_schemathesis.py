"""The contract holds under fuzzing: schemathesis, in-process, against ``create_app(settings)``.

Every operation, every check (``all``), the examples, coverage, fuzzing and stateful
phases (the state machine follows the spec's links: register / login / refresh → the
new session's calls, create → get / patch / delete → get-after-delete for projects and
milestones). Seeded, one worker and bounded, so a run repeats exactly and fits CI.

It runs schemathesis's own engine (what ``schemathesis run`` runs) on the ASGI app
rather than ``@schema.parametrize()``: the engine owns the stateful phase's replays
(a stateful server makes Hypothesis' replays diverge, which a bare
``as_state_machine().run()`` reports as ``FlakyStrategyDefinition``), accounts for the
cases of each phase, and keeps this run and the external one (``test_external_run.py``)
the same thing. (``schemathesis.pytest.from_fixture`` also breaks on pytest 9: it
writes ``node._nodeid``.)

Backends: every phase runs on SQLite. On PostgreSQL this run keeps the examples, a
small fuzzing budget and the stateful phase, and leaves the coverage phase (a thousand
deterministic boundary cases, most of the time) to the external run, which runs it on
PostgreSQL whenever ``TEST_DATABASE_URL`` is set. Generation does not depend on the
backend; what does — how values round-trip through the database (lengths, text, dates,
ids) and sequences of writes — is what the examples, the stateful walks and the
coverage boundaries hit, and only this in-process run has the server validate its own
responses (``APP_ENV=test``), on both backends.

It loads the repository's ``schemathesis.toml`` — QA's config, with its HTTP-only hooks and
its per-operation declarations — and adds only the seed and the budget; the admin the hooks
log in as is made here (``CAIRN_QA_ADMIN_EMAIL``). Rate limits are raised through the
environment (``conftest.test_environ``) — the security tests prove them.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass

import pytest
import schemathesis
from e2e.conftest import ROOT
from schemathesis.auths import GLOBAL_AUTH_STORAGE
from schemathesis.config import HealthCheck, SchemathesisConfig
from schemathesis.engine import Status, events, from_schema

from contract.support import report

pytestmark = pytest.mark.contract

SEED = 20261125
PHASES = ["examples", "coverage", "fuzzing", "stateful"]


@dataclass(frozen=True)
class Budget:
    phases: tuple[str, ...]
    max_examples: int  # per operation in fuzzing; scenarios in the stateful phase
    max_steps: int = 8  # calls per stateful scenario


BUDGETS = {
    "sqlite": Budget(phases=tuple(PHASES), max_examples=12),
    "postgres": Budget(phases=("examples", "fuzzing", "stateful"), max_examples=5),
}


def backend_name(url: str) -> str:
    return "postgres" if url.startswith(("postgres://", "postgresql://", "postgres+pool://")) else "sqlite"


def configure(schema, budget: Budget) -> None:
    """Every check and phase, seeded and bounded (shared with nothing: the external run uses CLI flags)."""
    config = schema.config
    config.seed = SEED
    config.workers = 1
    config.cache.enabled = False  # no memory of earlier runs: the same seed gives the same run
    config.suppress_health_check = [HealthCheck.too_slow, HealthCheck.filter_too_much]
    config.checks.update(included_check_names=["all"])
    config.phases.update(phases=list(budget.phases))
    config.phases.stateful.max_steps = budget.max_steps
    config.generation.update(max_examples=budget.max_examples)


@dataclass
class Outcome:
    cases: Counter
    failures: list[str]
    errors: list[str]
    links: set[str]  # the links the stateful phase followed with their values applied


def run(schema) -> Outcome:
    """Run the engine; count the cases per phase; describe each distinct failure, with a curl to reproduce it.

    Check failures live in each scenario's recorder; ``EngineFinished`` carries only those of
    the checks that run after the whole run.
    """
    outcome = Outcome(Counter(), [], [], set())
    seen: set[tuple] = set()
    for event in from_schema(schema).execute():
        if isinstance(event, events.ScenarioFinished):
            recorder = event.recorder
            outcome.cases[event.phase.value] += len(recorder.cases)
            outcome.links |= {node.transition.id for node in recorder.cases.values() if node.is_transition_applied}
            for case_id, checks in recorder.checks.items():
                for check in checks:
                    if check.status == Status.FAILURE and check.failure_info is not None:
                        failure = check.failure_info.failure
                        key = (failure.operation, failure.code, failure.title)
                        if key not in seen:
                            seen.add(key)
                            outcome.failures.append(describe(failure, recorder, case_id))
        elif isinstance(event, events.NonFatalError):
            outcome.errors.append(f"{event.label}: {event.info.format()}")
        elif isinstance(event, events.FatalError):
            raise event.exception
        elif isinstance(event, events.EngineFinished):
            outcome.failures += [f"{f.operation}: {f.code} {f.title}\n{f.message}" for f in event.failures]
    return outcome


def describe(failure, recorder, case_id: str) -> str:
    """The failure, the response that showed it, and a curl that sends the same request."""
    lines = [f"{failure.operation}: {failure.code} {failure.title}", failure.message]
    interaction = recorder.interactions.get(case_id)
    if interaction is not None and interaction.response is not None:
        response = interaction.response
        lines.append(f"[{response.status_code}] {response.content[:500].decode('utf-8', 'replace')}")
    lines.append(f"    {recorder.cases[case_id].value.as_curl_command()}")
    return "\n".join(line for line in lines if line)


def forget_cached_tokens() -> None:
    """Another backend's sessions are gone: the hooks' providers log in again."""
    for provider in GLOBAL_AUTH_STORAGE.providers:
        inner = getattr(provider, "provider", provider)
        if hasattr(inner, "invalidate"):
            inner.invalidate()


def test_contract_in_process(app, backend, clean_db, accounts, monkeypatch, request):
    admin = accounts.create(email="qa-admin@example.com", role="admin", password="Qa-Admin-Pass-42")
    monkeypatch.setenv("CAIRN_QA_ADMIN_EMAIL", admin.email)
    monkeypatch.setenv("CAIRN_QA_ADMIN_PASSWORD", "Qa-Admin-Pass-42")
    forget_cached_tokens()
    name = backend_name(backend)
    budget = BUDGETS[name]
    config = SchemathesisConfig.from_path(str(ROOT / "schemathesis.toml"))
    schema = schemathesis.openapi.from_asgi("/api/v1/openapi.json", app, config=config)
    configure(schema, budget)

    outcome = run(schema)

    counts = ", ".join(f"{phase} {outcome.cases[phase]}" for phase in budget.phases)
    report(request.config, f"schemathesis in-process on {name}: {counts} cases; {len(outcome.links)} links followed")
    assert not outcome.errors, "\n\n".join(outcome.errors)
    assert not outcome.failures, f"{len(outcome.failures)} failures:\n\n" + "\n\n".join(outcome.failures)
    assert all(outcome.cases[phase] for phase in budget.phases), f"a phase ran nothing: {dict(outcome.cases)}"
