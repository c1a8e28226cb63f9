"""Client authors' path: generate a typed Python client from the spec and use it for real.

``openapi-python-client generate --meta none --fail-on-warning`` (what ``make client``
runs) must succeed without a single warning and pass ``mypy --strict``; the generated package then drives a real
server (uvicorn on a free port, its own migrated SQLite database) through a whole flow:
register, login, a project and a milestone created, listed, read, changed and deleted,
refresh, logout — every answer parsed into the generated models.
"""

from __future__ import annotations

import datetime
import importlib
import os
import subprocess
import sys
import uuid
from dataclasses import dataclass
from pathlib import Path

import pytest
from conftest import test_environ as app_environ  # (not collected as a test)
from e2e.conftest import ROOT, Service, free_port, http_ready

from contract.support import manage

pytestmark = pytest.mark.contract

PACKAGE = "cairn_client"
BIN = Path(sys.executable).parent


@dataclass(frozen=True)
class Generation:
    result: subprocess.CompletedProcess
    package_dir: Path


@pytest.fixture(scope="module")
def generation(tmp_path_factory: pytest.TempPathFactory) -> Generation:
    output = tmp_path_factory.mktemp("generated") / PACKAGE
    args = [str(BIN / "openapi-python-client"), "generate", "--path", str(ROOT / "openapi" / "openapi.yaml")]
    args += ["--output-path", str(output), "--meta", "none", "--fail-on-warning"]
    # Its post-generation hooks run `ruff`: the venv's.
    env = {**os.environ, "PATH": f"{BIN}{os.pathsep}{os.environ.get('PATH', '')}"}
    return Generation(subprocess.run(args, capture_output=True, text=True, env=env, timeout=120), output)


@pytest.fixture(scope="module")
def client_package(generation: Generation):
    assert generation.result.returncode == 0, generation.result.stdout + generation.result.stderr
    sys.path.insert(0, str(generation.package_dir.parent))
    try:
        yield importlib.import_module(PACKAGE)
    finally:
        sys.path.remove(str(generation.package_dir.parent))
        for name in [name for name in sys.modules if name == PACKAGE or name.startswith(f"{PACKAGE}.")]:
            del sys.modules[name]


@pytest.fixture(scope="module")
def base_url(tmp_path_factory: pytest.TempPathFactory):
    """uvicorn (lifespan on) on a free port, on a freshly migrated SQLite database."""
    workdir = tmp_path_factory.mktemp("client-server")
    env = app_environ(f"sqlite:///{workdir / 'cairn.db'}", workdir)
    manage("migrate", env=env)
    port = free_port()
    args = [sys.executable, "-m", "uvicorn", "--factory", "app:create_app", "--host", "127.0.0.1"]
    args += ["--port", str(port), "--lifespan", "on", "--log-level", "warning"]
    url = f"http://127.0.0.1:{port}"
    service = Service("uvicorn", args, env, workdir / "server.log").start(http_ready(f"{url}/health/ready"))
    yield url
    service.stop()


def test_generation_is_clean(generation: Generation):
    output = generation.result.stdout + generation.result.stderr
    assert generation.result.returncode == 0, output
    assert "warning" not in output.lower(), output


# The generator's own httpx wrapper (not made from the spec) passes ``*args`` to httpx's typed
# ``__exit__``, which mypy refuses; every module generated from the spec is checked.
MYPY_CONFIG = f"""[mypy]
strict = True
[mypy-{PACKAGE}.client]
ignore_errors = True
"""


def test_the_client_type_checks_strictly(generation: Generation):
    """``mypy --strict`` over the generated package: its types are what a client author's checker sees."""
    assert generation.result.returncode == 0
    config = generation.package_dir.parent / "mypy.ini"
    config.write_text(MYPY_CONFIG)
    args = [str(BIN / "mypy"), "--config-file", str(config), "--no-incremental", PACKAGE]
    result = subprocess.run(args, cwd=generation.package_dir.parent, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stdout + result.stderr


def module(package, name: str):
    return importlib.import_module(f"{package.__name__}.{name}")


def test_a_whole_flow_through_the_generated_client(client_package, base_url):
    api = lambda name: module(client_package, f"api.{name}")  # noqa: E731 - a short alias keeps the flow readable
    models = module(client_package, "models")
    anonymous = client_package.Client(base_url=base_url, raise_on_unexpected_status=True)
    email, password = f"client-{uuid.uuid4().hex[:12]}@example.com", "Generated-Client-7"

    registered = api("auth.register").sync_detailed(
        client=anonymous, body=models.RegisterRequest(email=email, password=password, name="Gen Client")
    )
    assert registered.status_code == 201
    assert isinstance(registered.parsed, models.AuthResult)
    assert registered.parsed.user.email == email

    logged_in = api("auth.login").sync(client=anonymous, body=models.LoginRequest(email=email, password=password))
    assert isinstance(logged_in, models.AuthResult)
    client = client_package.AuthenticatedClient(
        base_url=base_url, token=logged_in.tokens.access_token, raise_on_unexpected_status=True
    )

    project = api("projects.create_project").sync(
        client=client, body=models.ProjectCreate(name="Summit route survey", description="North ridge.")
    )
    assert isinstance(project, models.Project)
    assert project.status == models.ProjectStatus.ACTIVE
    listed = api("projects.list_projects").sync(client=client, search="summit")
    assert [item.id for item in listed.data] == [project.id]
    assert listed.meta.total == 1
    second = api("projects.create_project").sync(client=client, body=models.ProjectCreate(name="Summit hut"))
    first_page = api("projects.list_projects").sync(client=client, search="summit", limit=1)
    next_page = api("projects.list_projects").sync(client=client, cursor=first_page.meta.next_cursor, limit=1)
    assert [first_page.data[0].id, next_page.data[0].id] == [second.id, project.id]  # newest first, by cursor
    assert api("projects.delete_project").sync_detailed(second.id, client=client).status_code == 204
    assert api("projects.get_project").sync(project.id, client=client).milestones == []
    changed = api("projects.update_project").sync(
        project.id, client=client, body=models.ProjectUpdate(status=models.ProjectStatus.INACTIVE, description=None)
    )
    assert (changed.status, changed.description) == (models.ProjectStatus.INACTIVE, None)
    tag = api("projects.get_project").sync_detailed(project.id, client=client).headers["ETag"]
    revalidated = api("projects.get_project").sync_detailed(project.id, client=client, if_none_match=tag)
    assert revalidated.status_code == 304
    renamed = api("projects.update_project").sync_detailed(
        project.id, client=client, body=models.ProjectUpdate(name="Summit route survey"), if_match=tag
    )
    assert renamed.status_code == 200
    lost = api("projects.update_project").sync_detailed(
        project.id, client=client, body=models.ProjectUpdate(name="Lost update"), if_match=tag
    )
    assert lost.status_code == 412
    assert lost.parsed.error.code == models.PreconditionFailedErrorResponseErrorCode.PRECONDITION_FAILED

    due = datetime.date(2026, 12, 15)
    milestone = api("milestones.create_milestone").sync(
        project.id, client=client, body=models.MilestoneCreate(title="Scout the approach", due_date=due)
    )
    assert isinstance(milestone, models.Milestone)
    assert (milestone.project_id, milestone.due_date) == (project.id, due)
    assert [m.id for m in api("milestones.list_milestones").sync(project.id, client=client).data] == [milestone.id]
    assert api("milestones.get_milestone").sync(project.id, milestone.id, client=client).title == "Scout the approach"
    done = api("milestones.update_milestone").sync(
        project.id, milestone.id, client=client, body=models.MilestoneUpdate(status=models.MilestoneStatus.DONE)
    )
    assert done.status == models.MilestoneStatus.DONE
    assert api("projects.get_project").sync(project.id, client=client).milestones[0].id == milestone.id

    assert api("milestones.delete_milestone").sync_detailed(project.id, milestone.id, client=client).status_code == 204
    assert api("projects.delete_project").sync_detailed(project.id, client=client).status_code == 204
    gone = api("projects.get_project").sync_detailed(project.id, client=client)
    assert gone.status_code == 404
    assert gone.parsed.error.code == models.NotFoundErrorResponseErrorCode.NOT_FOUND

    refreshed = api("auth.refresh").sync(
        client=anonymous, body=models.RefreshRequestType0(refresh_token=logged_in.tokens.refresh_token)
    )
    assert isinstance(refreshed, models.TokensResult)
    client = client_package.AuthenticatedClient(
        base_url=base_url, token=refreshed.tokens.access_token, raise_on_unexpected_status=True
    )
    assert api("users.get_me").sync(client=client).email == email

    assert api("auth.logout").sync_detailed(client=client).status_code == 204
    after = api("users.get_me").sync_detailed(client=client)
    assert after.status_code == 401
    assert after.parsed.error.code == models.UnauthorizedErrorResponseErrorCode.UNAUTHORIZED
