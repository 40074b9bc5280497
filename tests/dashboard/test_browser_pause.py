"""Pausing from the dashboard, in headless Chromium, against real stores and a real worker.

The harness (Chromium, the dashboard and worker processes, the stores) is
test_browser.py's: a private Redis server per test, or a SQLite file.
"""

from __future__ import annotations

import subprocess
import time
import urllib.error
import urllib.parse
import urllib.request
import uuid

import dashboard_tasks
import pytest
from selenium.webdriver.common.by import By
from selenium.webdriver.remote.webdriver import WebDriver
from test_browser import WAIT, browser, dashboard, dsn, no_script_ran, processes, start, wait  # noqa: F401

from alligator import Gator
from alligator.constants import SUCCESS

XSS = "<script>window.x=1</script>"
#: How long paused work is watched staying put while the worker runs (seconds).
WATCH = 4.0


def metrics(url: str) -> str:
    with urllib.request.urlopen(url + "metrics", timeout=WAIT) as response:
        return str(response.read().decode())


def test_pause_and_resume_a_queue_and_a_function_from_the_dashboard(
    browser: WebDriver,  # noqa: F811
    dsn: str,  # noqa: F811
    processes: list[subprocess.Popen[str]],  # noqa: F811
) -> None:
    queue = f"pause-{uuid.uuid4().hex[:6]}"
    gator = Gator(dsn, queue_name=queue, allow=["dashboard_tasks"])
    url = dashboard(dsn, processes)

    # The queue page's button pauses the queue: a POST with the page's CSRF token.
    browser.get(url + "queue?" + urllib.parse.urlencode({"name": queue}))
    browser.find_element(By.CSS_SELECTOR, "form.pause button.pause").click()
    wait(browser, lambda d: f"Paused queue {queue}." in d.page_source, "the pause message")
    assert browser.find_element(By.ID, "paused").text == "paused"
    assert ("queue", queue) in gator.paused()
    for n in range(3):
        gator.options(task_id=f"t{n}").task(dashboard_tasks.echo, n)
    # Started after the pause, so its first look sees it (a running worker sees it within a second).
    worker = start(["latergator", dsn, "--queue", queue, "--allow", "dashboard_tasks", "--nap-time", "0.05"])
    processes.append(worker)
    time.sleep(WATCH)  # the worker runs meanwhile; the tasks wait
    assert gator.counts().waiting == 3

    # The overview marks it; /metrics has the gauge.
    browser.get(url)
    wait(browser, lambda d: d.find_elements(By.CSS_SELECTOR, f'tr[data-queue="{queue}"] .paused'), "the mark")
    assert f'alligator_queue_paused{{queue="{queue}"}} 1.0' in metrics(url)

    # A POST without the CSRF token is refused and changes nothing.
    form = urllib.parse.urlencode({"kind": "queue", "name": queue, "paused": "0"}).encode()
    with pytest.raises(urllib.error.HTTPError) as refused:
        urllib.request.urlopen(urllib.request.Request(url + "pause", data=form), timeout=WAIT)
    assert refused.value.code == 403
    assert ("queue", queue) in gator.paused()

    # Resume from the queue page: the tasks run.
    browser.get(url + "queue?" + urllib.parse.urlencode({"name": queue}))
    browser.find_element(By.CSS_SELECTOR, "form.pause button.resume").click()
    wait(browser, lambda d: f"Resumed queue {queue}." in d.page_source, "the resume message")
    assert not browser.find_elements(By.ID, "paused")
    wait(browser, lambda d: all(gator.status(f"t{n}") == SUCCESS for n in range(3)), "the tasks to run")
    # (0 while the queue is listed; an empty queue is not listed at all.)
    assert f'alligator_queue_paused{{queue="{queue}"}} 1.0' not in metrics(url)

    # A paused function (its name hostile-looking text cannot be: names are checked) is
    # listed in the overview with a resume button, and in /metrics.
    function = f"dashboard_tasks_{uuid.uuid4().hex[:6]}:slow"
    assert gator.pause(function=function) is True
    assert f'alligator_function_paused{{function="{function}"}} 1.0' in metrics(url)
    browser.get(url)
    item = f'li[data-paused-kind="function"][data-paused-name="{function}"]'
    wait(browser, lambda d: d.find_elements(By.CSS_SELECTOR, item), "the paused function in the overview")
    browser.find_element(By.CSS_SELECTOR, f"{item} button.resume").click()
    wait(browser, lambda d: f"Resumed function {function}." in d.page_source, "the resume message")
    assert ("function", function) not in gator.paused()
    no_script_ran(browser)
    gator.drop_all()
    gator.backend.close()
