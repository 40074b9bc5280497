"""A backend with only the required part works everywhere (issue 19, the first "done when").

``tests/minimal_store`` is a store written from the contract's docstrings
with the twelve required methods and no capability, installed as its own
distribution with the entry point ``minimal``. These tests prove that it
passes the required kit, that real ``latergator`` processes drain it, and
that the ``alligator`` command, ``doctor`` and the dashboard work against
it, saying what the store cannot do in the words of
:mod:`alligator.capabilities` (the command exits 1 then; a usage error stays 2).
"""

from __future__ import annotations

import functools
import json
import os
import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import sample_tasks
from alligator_minimal import MinimalBackend

from alligator import Gator, capabilities
from alligator.backend import Backend
from alligator.constants import FAILED, SUCCESS
from alligator.testing import RequiredContract
from alligator.testing.fixtures import BackendFactory, PlantRawPayload

TESTS = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent


def test_the_store_claims_no_capability_and_is_found_by_its_scheme(tmp_path: Path) -> None:
    gator = Gator(f"minimal://{tmp_path / 'tasks.db'}")
    assert type(gator.backend) is MinimalBackend
    assert capabilities.claimed(gator.backend) == []


# -- the required kit ----------------------------------------------------------------


class TestRequiredKit(RequiredContract):
    """The kit's required part, adopted as a third-party backend would."""

    @pytest.fixture
    def backend(self, tmp_path: Path) -> Iterator[Backend]:
        made = MinimalBackend(f"minimal://{tmp_path / 'kit.db'}")
        yield made
        made.close()

    @pytest.fixture
    def backend_factory(self, backend: Backend) -> BackendFactory:
        return functools.partial(MinimalBackend, backend.conn_string)

    @pytest.fixture
    def plant_raw_payload(self, backend: MinimalBackend) -> PlantRawPayload:
        def plant(queue: str, task_id: str, data: bytes) -> None:
            with backend._transaction():
                backend._run("plant", queue=queue, id=task_id, payload=data, due=backend.now())

        return plant


# -- real workers ------------------------------------------------------------------


def env() -> dict[str, str]:
    """The environment of the processes: sample_tasks importable, no secret or DSN set."""
    made = dict(os.environ)
    made["PYTHONPATH"] = os.pathsep.join(p for p in (str(TESTS), made.get("PYTHONPATH", "")) if p)
    for name in ("ALLIGATOR_SECRET", "ALLIGATOR_DSN", "ALLIGATOR_ALLOW"):
        made.pop(name, None)
    return made


@pytest.fixture
def dsn(tmp_path: Path) -> str:
    return f"minimal://{tmp_path / 'tasks.db'}"


def test_a_latergator_process_drains_the_store(dsn: str, tmp_path: Path) -> None:
    gator = Gator(dsn, queue_name="work", allow=["sample_tasks"])
    ids = [gator.task(sample_tasks.add, n, 1).task_id for n in range(5)]
    failing = gator.options(retries=0).task(sample_tasks.always_fails, "no").task_id
    ran = subprocess.run(
        [str(BIN / "latergator"), dsn, "--queue", "work", "--allow", "sample_tasks", "--max-tasks", "6"],
        capture_output=True,
        text=True,
        env=env(),
        cwd=tmp_path,
        timeout=120,
    )
    assert ran.returncode == 0, ran.stderr
    assert gator.len() == 0
    assert [gator.status(task_id) for task_id in ids] == [SUCCESS] * 5
    assert gator.status(failing) == FAILED
    # No results kept, and the failure's reason neither: the core says so instead of failing.
    assert gator.result(ids[0]) is None


# -- the alligator command ------------------------------------------------------------


def alligator(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(BIN / "alligator"), *args], capture_output=True, text=True, env=env(), timeout=120
    )


@pytest.fixture
def filled(dsn: str) -> Gator:
    """Two tasks waiting and one delayed in queue ``all``."""
    gator = Gator(dsn, allow=["sample_tasks"])
    gator.options(task_id="one").task(sample_tasks.add, 1, 2)
    gator.options(task_id="two").task(sample_tasks.noop)
    gator.options(task_id="later", delay_by=600).task(sample_tasks.noop)
    return gator


def test_info_counts_what_the_required_part_can_and_says_the_rest(filled: Gator, dsn: str) -> None:
    ran = alligator("info", dsn)
    assert ran.returncode == 0, ran.stderr
    assert "all" in ran.stdout and "3 waiting or delayed" in ran.stdout
    assert "cannot list or count its tasks per state" in ran.stdout
    assert "keeps no registry of workers" in ran.stdout
    data = json.loads(alligator("info", dsn, "--json").stdout)
    assert data["queues"] == [
        {
            "name": "all",
            "waiting": None,
            "delayed": None,
            "running": None,
            "dead": None,
            "total": None,
            "queued": 3,
            "paused": False,
        }
    ]
    assert "cannot list or count" in data["counts_unavailable"]
    assert data["workers"] is None and "keeps no registry of workers" in data["workers_unavailable"]


@pytest.mark.parametrize(
    ("args", "says"),
    [
        (("tasks",), "cannot list or count its tasks per state"),
        (("tasks", "--state", "succeeded"), "keeps no results it can list"),
        (("requeue", "one", "--yes"), "cannot list, requeue or delete dead letters"),
        (("requeue", "--all", "--yes"), "cannot list, requeue or delete dead letters"),
        (("delete", "one", "--yes"), "cannot list, requeue or delete dead letters"),
        (("purge", "--dead", "--yes"), "cannot list, requeue or delete dead letters"),
        (("workers",), "keeps no registry of workers"),
        (("pause",), "cannot pause queues or functions"),
        (("pause", "--queue", "all"), "cannot pause queues or functions"),
        (("resume", "--queue", "all"), "cannot pause queues or functions"),
    ],
)
def test_what_the_store_cannot_do_is_said_plainly_with_exit_1(
    filled: Gator, dsn: str, args: tuple[str, ...], says: str
) -> None:
    ran = alligator(args[0], dsn, *args[1:])
    assert ran.returncode == 1, (ran.stdout, ran.stderr)
    assert says in ran.stderr
    assert "Traceback" not in ran.stderr
    assert filled.len() == 3, "nothing changed"


def test_show_cancel_result_and_purge_work_on_the_required_part(filled: Gator, dsn: str) -> None:
    shown = json.loads(alligator("show", dsn, "one", "--json").stdout)
    assert (shown["queue"], shown["status"], shown["function"], shown["args"]) == (
        "all",
        "waiting",
        "sample_tasks:add",
        [1, 2],
    )
    assert shown["attempts"] is None, "attempts are only in a listing, which this store has not"
    assert alligator("cancel", dsn, "two", "--yes").returncode == 0
    assert filled.status("two") is None
    assert filled.pop() is not None
    result = json.loads(alligator("result", dsn, "one", "--json").stdout)
    assert (result["status"], result["stored"]) == ("success", False)
    purged = alligator("purge", dsn, "--yes", "--json")
    assert purged.returncode == 0, purged.stderr
    assert json.loads(purged.stdout)["count"] == 1
    assert filled.len() == 0


def test_doctor_reports_what_it_cannot_check_without_crashing(filled: Gator, dsn: str) -> None:
    ran = alligator("doctor", dsn, "--json")
    assert ran.returncode in (0, 1), ran.stderr
    findings = {(f["check"], f["level"]): f["problem"] for f in json.loads(ran.stdout)["findings"]}
    assert ("store", "ok") in findings
    assert "cannot check its own settings" in findings[("store settings", "info")]
    assert "cannot list or count its tasks per state" in findings[("queues", "info")]
    assert "keeps no registry of workers" in findings[("workers", "info")]
    text = alligator("doctor", dsn)
    assert "Traceback" not in text.stderr and "keeps no registry of workers" in text.stdout


# -- the dashboard ------------------------------------------------------------------


@pytest.fixture
def client(filled: Gator) -> Any:
    from alligator.dashboard import create_app
    from alligator.dashboard.data import Store

    app = create_app(Store(filled.conn_string, filled), sample=False)
    app.config["TESTING"] = True
    return app.test_client()


def page(client: Any, url: str) -> str:
    response = client.get(url)
    assert response.status_code == 200, response.get_data(as_text=True)
    return str(response.get_data(as_text=True))


def test_the_dashboard_shows_what_it_can_and_says_the_rest(client: Any) -> None:
    overview = page(client, "/")
    assert "cannot list or count its tasks per state" in overview
    assert 'data-state="queued">3<' in overview
    assert "keeps no registry of workers" in overview
    for url in ("/queue?name=all", "/queue?name=all&state=delayed", "/dead?queue=all"):
        assert "cannot list or count its tasks per state" in page(client, url)
    task = page(client, "/task?queue=all&id=one")
    assert "sample_tasks:add" in task
    assert "alligator_queue_tasks" in client.get("/metrics").get_data(as_text=True)


def test_a_dashboard_action_the_store_cannot_do_is_refused_plainly(client: Any, filled: Gator) -> None:
    import re

    form = page(client, "/confirm?action=requeue_all&queue=all")
    token = re.search(r'name="csrf_token" value="([^"]+)"', form)
    assert token is not None
    response = client.post(
        "/action", data={"action": "requeue_all", "queue": "all", "csrf_token": token.group(1)}
    )
    assert response.status_code == 400
    assert "cannot list, requeue or delete dead letters" in response.get_data(as_text=True)
    assert filled.len() == 3


def test_a_task_id_is_unique_across_runs(dsn: str) -> None:
    # The store keeps a finished id's SUCCESS for status_ttl, and forgets it on a new push.
    gator = Gator(dsn, allow=["sample_tasks"])
    task_id = uuid.uuid4().hex
    gator.options(task_id=task_id).task(sample_tasks.noop)
    assert gator.pop() is not None and gator.status(task_id) == SUCCESS
    gator.options(task_id=task_id).task(sample_tasks.noop)
    assert gator.status(task_id) == 0
