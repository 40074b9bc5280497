"""``alligator limits``: keys held, their limits and the tasks waiting (SQLite, Redis); a store without."""

from __future__ import annotations

import json
import uuid
from pathlib import Path

from operating_helpers import Alligator, Store

from alligator import capabilities


def test_limits_lists_the_keys_held_their_limits_and_who_waits(store: Store, alligator: Alligator) -> None:
    gator = store.gator()
    limiting = capabilities.limiting(gator.backend)
    rate, slots = f"api-{uuid.uuid4().hex[:8]}", f"customer-{uuid.uuid4().hex[:8]}"
    try:
        for holder in ("a", "b", "waits"):
            limiting.take_rate(rate, holder, 2, 3600.0)
        limiting.acquire_slot(slots, "running", 1, 3600.0)
        limiting.acquire_slot(slots, "waits", 1, 3600.0)
        ran = alligator("limits", store.dsn)
        assert ran.returncode == 0, ran.stderr
        assert ran.lines()[0].split() == ["KIND", "KEY", "LIMIT", "HELD", "WAITING"]
        rows = {line.split()[1]: line.split() for line in ran.lines()[1:]}
        assert rows[rate] == ["rate", rate, "2/h", "2", "1"]
        assert rows[slots] == ["concurrency", slots, "1", "1", "1"]
        ran = alligator("limits", store.dsn, "--json")
        mine = [entry for entry in json.loads(ran.stdout)["limits"] if entry["key"] in (rate, slots)]
        assert mine == [
            {"kind": "concurrency", "key": slots, "limit": "1", "held": 1, "waiting": 1},
            {"kind": "rate", "key": rate, "limit": "2/h", "held": 2, "waiting": 1},
        ]
    finally:
        limiting.release_slot(slots, "running")
        gator.backend.close()


def test_limits_on_a_store_that_cannot_keep_them_says_so(alligator: Alligator, tmp_path: Path) -> None:
    ran = alligator("limits", f"minimal://{tmp_path / 'tasks.db'}")
    assert ran.returncode == 1
    assert "cannot keep rate limits or concurrency limits per key" in ran.stderr
