"""The dashboard's schedules table through Flask's test client."""

from __future__ import annotations

from typing import Any

from alligator import Gator


def test_the_overview_shows_the_schedules_with_their_last_and_next_ticks(
    client: Any, queue_gator: Gator
) -> None:
    assert 'id="schedules"' not in client.get("/").get_data(as_text=True), "no schedule, no table"
    about = '{"every": 60, "missed": "last", "timezone": "UTC"}'
    backend: Any = queue_gator.backend
    assert backend.push_tick(
        "emails", "minutely", 1_800_000_000.0, "schedule:minutely:1800000000", "{}", about
    )
    assert backend.push_tick("emails", "<b>x</b>", 1.0, "schedule:x:1", "{}", '{"cron": "<script>"}')
    overview = client.get("/").get_data(as_text=True)
    assert 'data-schedule="minutely"' in overview
    assert "2027-01-15T08:00:00+00:00" in overview and "every 60s, missed=last" in overview
    assert "<b>x</b>" not in overview and "<script>" not in overview, "names and descriptions are escaped"
