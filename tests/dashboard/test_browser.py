"""The dashboard in a real browser: headless Debian Chromium driven by Selenium.

Against a real SQLite file and a real Redis server, with a real latergator
worker process draining the queue and a real dashboard process serving it.
Screenshots of every page (SQLite run) go to docs/_static/dashboard/, which
docs/dashboard.md shows.

Chromium and its driver come from Debian's packages (``.ci/run`` installs
them); the driver's path is given, so Selenium never looks for or downloads
a browser.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import urllib.error
import urllib.parse
import urllib.request
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import dashboard_tasks
import pytest
from redis_servers import RedisServer
from selenium import webdriver
from selenium.common.exceptions import StaleElementReferenceException
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By
from selenium.webdriver.remote.webdriver import WebDriver
from selenium.webdriver.support.ui import WebDriverWait

from alligator import Gator
from alligator.constants import SUCCESS
from alligator.dashboard import TOKEN_ENV

HERE = Path(__file__).resolve().parent
SHOTS = HERE.parents[1] / "docs" / "_static" / "dashboard"
CHROMIUM = "/usr/bin/chromium"
CHROMEDRIVER = "/usr/bin/chromedriver"
XSS = "<script>window.x=1</script>"
#: Generous: two cores shared by many processes.
WAIT = 90


@pytest.fixture(scope="module")
def browser() -> Iterator[WebDriver]:
    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for arg in ["--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--window-size=1280,1000"]:
        options.add_argument(arg)
    driver = webdriver.Chrome(options=options, service=Service(executable_path=CHROMEDRIVER))
    driver.set_page_load_timeout(WAIT)
    yield driver
    driver.quit()


@pytest.fixture(params=["sqlite", "redis"])
def dsn(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'tasks.db'}"
        return
    server = RedisServer(tmp_path / "redis")
    server.start()
    try:
        yield server.url(0)
    finally:
        server.stop()


def start(args: list[str], env: dict[str, str] | None = None) -> subprocess.Popen[str]:
    return subprocess.Popen(
        args,
        cwd=HERE,
        stderr=subprocess.PIPE,
        stdout=subprocess.DEVNULL,
        text=True,
        env={
            **os.environ,
            "PYTHONPATH": os.pathsep.join(filter(None, [str(HERE), os.environ.get("PYTHONPATH")])),
            **(env or {}),
        },
    )


def stop(process: subprocess.Popen[str]) -> None:
    process.terminate()
    try:
        process.wait(timeout=60)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait(timeout=60)


@pytest.fixture
def processes() -> Iterator[list[subprocess.Popen[str]]]:
    started: list[subprocess.Popen[str]] = []
    yield started
    for process in started:
        stop(process)


def dashboard(dsn: str, processes: list[subprocess.Popen[str]], token: str | None = None) -> str:
    env = {TOKEN_ENV: token} if token else {}
    args = [
        sys.executable,
        "-m",
        "alligator.dashboard",
        dsn,
        "--bind",
        "127.0.0.1:0",
        "--sample-seconds",
        "1",
    ]
    process = start(args, env)
    processes.append(process)
    assert process.stderr is not None
    line = process.stderr.readline()
    found = re.search(r" on (http://127\.0\.0\.1:\d+/)", line)
    assert found, f"the dashboard did not start: {line}{process.stderr.read() if process.poll() else ''}"
    return found.group(1)


def wait(driver: WebDriver, condition: Callable[[WebDriver], Any], what: str) -> Any:
    waiter = WebDriverWait(
        driver, WAIT, poll_frequency=0.2, ignored_exceptions=[StaleElementReferenceException]
    )
    return waiter.until(condition, f"waited {WAIT} s for {what}")


def count(driver: WebDriver, queue: str, state: str) -> int:
    # Read in one script: the page's refresh may replace the cell between a
    # find_element and a .text, which would make the element stale.
    text = driver.execute_script(
        "const cell = document.querySelector(arguments[0]); return cell ? cell.textContent : null;",
        f'tr[data-queue="{queue}"] td[data-state="{state}"]',
    )
    assert text is not None, f"no {state} count for {queue} on the page"
    return int(text.strip())


def shoot(driver: WebDriver, name: str, save: bool) -> None:
    if save:
        SHOTS.mkdir(parents=True, exist_ok=True)
        # The whole page, as tall as its content (up to a limit).
        height = int(driver.execute_script("return document.documentElement.scrollHeight"))
        metrics = {
            "width": 1280,
            "height": min(max(height, 400), 2400),
            "deviceScaleFactor": 1,
            "mobile": False,
        }
        driver.execute_cdp_cmd("Emulation.setDeviceMetricsOverride", metrics)
        try:
            driver.save_screenshot(str(SHOTS / f"{name}.png"))
        finally:
            driver.execute_cdp_cmd("Emulation.clearDeviceMetricsOverride", {})


def no_script_ran(driver: WebDriver) -> None:
    assert driver.execute_script("return typeof window.x") == "undefined"


def test_the_dashboard_in_a_real_browser(
    browser: WebDriver, dsn: str, processes: list[subprocess.Popen[str]], tmp_path: Path
) -> None:
    save = dsn.startswith("sqlite")
    queue = f"emails-{uuid.uuid4().hex[:6]}"
    gator = Gator(dsn, queue_name=queue, allow=["dashboard_tasks"])
    flag = tmp_path / "flag"
    # Three dead letters, made here: two that will run once the flag exists, one hostile.
    for task_id in ["redo", "drop"]:
        gator.options(task_id=task_id, retries=0).task(dashboard_tasks.fails_until, str(flag))
    gator.options(task_id="hostile-dead", retries=0).task(dashboard_tasks.always_fails, XSS)
    for _ in range(3):
        gator.pop()
    gator.options(task_id="hostile", delay_by=3600).task(dashboard_tasks.echo, XSS, note=XSS)
    with gator.batch() as batch:
        for n in range(12):
            batch.task(dashboard_tasks.slow, 0.4, n)
    assert (gator.counts().waiting, gator.counts().delayed, gator.counts().dead) == (12, 1, 3)

    url = dashboard(dsn, processes)

    # The overview shows the store's counts ...
    browser.get(url)
    wait(browser, lambda d: d.find_elements(By.CSS_SELECTOR, f'tr[data-queue="{queue}"]'), "the queue row")
    for state in ("waiting", "delayed", "running", "dead"):
        assert count(browser, queue, state) == getattr(gator.counts(), state)
    browser.execute_script("window.notReloaded = true")

    # ... and they change, without a reload, as a real worker drains the queue.
    worker = start(["latergator", dsn, "--queue", queue, "--allow", "dashboard_tasks", "--nap-time", "0.05"])
    processes.append(worker)
    wait(browser, lambda d: count(d, queue, "waiting") < 12, "the waiting count to fall")
    wait(
        browser, lambda d: count(d, queue, "waiting") + count(d, queue, "running") == 0, "the queue to drain"
    )
    assert browser.execute_script("return window.notReloaded") is True
    counts = gator.counts()
    assert (counts.waiting, counts.running, counts.delayed, counts.dead) == (0, 0, 1, 3)
    wait(browser, lambda d: count(d, queue, "dead") == 3 and count(d, queue, "delayed") == 1, "final counts")
    # The dashboard process samples the store for its charts.
    wait(
        browser,
        lambda d: d.find_elements(By.CSS_SELECTOR, "figure svg polyline"),
        "the charts to draw samples",
    )
    readable_charts(browser)
    # doctor's alert about the queue no worker consumed clears once one does (its checks rerun).
    wait(
        browser,
        lambda d: (
            d.find_elements(By.ID, "checks")
            and not d.find_elements(By.CSS_SELECTOR, '#alerts .alert[data-check="workers"]')
        ),
        "doctor's alert to clear",
    )
    shoot(browser, "overview", save)

    # A hostile payload renders as text and runs nothing.
    browser.get(url + "queue?" + urllib.parse.urlencode({"name": queue, "state": "delayed"}))
    args = browser.find_element(By.CSS_SELECTOR, 'tr[data-task="hostile"] code.args').text
    assert XSS in args
    no_script_ran(browser)
    shoot(browser, "queue", save)
    browser.find_element(By.LINK_TEXT, "hostile").click()
    wait(browser, lambda d: d.find_elements(By.ID, "payload"), "the task view")
    assert XSS in browser.find_element(By.ID, "payload").text
    assert browser.find_element(By.ID, "status").text == "delayed"
    no_script_ran(browser)
    shoot(browser, "task", save)

    # Dead letters: reasons shown as text; one requeued from the page then runs.
    browser.get(url + "dead?" + urllib.parse.urlencode({"queue": queue}))
    hostile = browser.find_element(By.CSS_SELECTOR, 'article[data-task="hostile-dead"] .reason').text
    assert XSS in hostile
    no_script_ran(browser)
    browser.find_element(By.CSS_SELECTOR, 'article[data-task="hostile-dead"] details summary').click()
    assert (
        "Traceback (most recent call last)"
        in browser.find_element(By.CSS_SELECTOR, 'article[data-task="hostile-dead"] details pre').text
    )
    no_script_ran(browser)
    shoot(browser, "dead-letters", save)
    flag.write_text("")
    browser.find_element(By.CSS_SELECTOR, 'article[data-task="redo"] a.requeue').click()
    wait(browser, lambda d: d.find_elements(By.ID, "confirm"), "the confirmation page")
    assert gator.status("redo") is not None and gator.counts().dead == 3  # asking changed nothing
    shoot(browser, "confirm", save)
    browser.find_element(By.ID, "confirm").click()
    wait(browser, lambda d: "Requeued redo." in d.page_source, "the requeue message")
    wait(browser, lambda d: gator.status("redo") == SUCCESS, "the requeued task to run")
    assert flag.read_text().startswith("ran in ")
    browser.get(url + "task?" + urllib.parse.urlencode({"queue": queue, "id": "redo"}))
    assert browser.find_element(By.ID, "status").text == "success"

    # One deleted from the page.
    browser.get(url + "dead?" + urllib.parse.urlencode({"queue": queue}))
    browser.find_element(By.CSS_SELECTOR, 'article[data-task="drop"] a.delete').click()
    wait(browser, lambda d: d.find_elements(By.ID, "confirm"), "the confirmation page")
    browser.find_element(By.ID, "confirm").click()
    wait(browser, lambda d: "Deleted drop." in d.page_source, "the delete message")
    assert gator.status("drop") is None and gator.counts().dead == 1
    assert not browser.find_elements(By.CSS_SELECTOR, 'article[data-task="drop"]')

    # A POST without the CSRF token is refused, and changes nothing.
    form = urllib.parse.urlencode({"action": "purge", "queue": queue}).encode()
    with pytest.raises(urllib.error.HTTPError) as refused:
        urllib.request.urlopen(urllib.request.Request(url + "action", data=form), timeout=WAIT)
    assert refused.value.code == 403
    assert gator.counts().dead == 1

    # /metrics says what the store holds.
    with urllib.request.urlopen(url + "metrics", timeout=WAIT) as response:
        body = response.read().decode()
    for state in ("waiting", "delayed", "running", "dead"):
        value = float(getattr(gator.counts(), state))
        assert f'alligator_queue_tasks{{queue="{queue}",state="{state}"}} {value}' in body

    # With a password: a login page first.
    secured = dashboard(dsn, processes, token="a password for the browser test")
    browser.get(secured)
    wait(browser, lambda d: d.find_elements(By.ID, "password"), "the login page")
    shoot(browser, "login", save)
    browser.find_element(By.ID, "password").send_keys("a password for the browser test")
    browser.find_element(By.ID, "login").click()
    wait(browser, lambda d: d.find_elements(By.CSS_SELECTOR, f'tr[data-queue="{queue}"]'), "the overview")
    gator.drop_all()
    gator.backend.close()


def readable_charts(driver: WebDriver) -> None:
    """Every chart has a time axis and value labels drawn at least 10 px tall (they were about 6)."""
    labels = driver.execute_script(
        """return Array.from(document.querySelectorAll('svg.chart text.tick')).map(function (t) {
            return [t.textContent, t.getBoundingClientRect().height, t.classList.contains('x')]; });"""
    )
    assert labels, "no chart labels"
    for text, height, _ in labels:
        assert height >= 10, f"the chart label {text!r} is {height:.1f} px tall"
    times = [text for text, _, is_time in labels if is_time]
    assert times and all(re.fullmatch(r"\d\d:\d\d(:\d\d)?", text) for text in times), times
    charts = driver.execute_script("return document.querySelectorAll('svg.chart').length")
    assert charts == len(driver.find_elements(By.CSS_SELECTOR, "tr[data-queue]")) + 2


def test_cancel_a_waiting_task_and_log_in_without_leaving_the_site(
    browser: WebDriver, processes: list[subprocess.Popen[str]], tmp_path: Path
) -> None:
    dsn = f"sqlite:///{tmp_path / 'tasks.db'}"
    gator = Gator(dsn, queue_name="orders", allow=["dashboard_tasks"])
    gator.options(task_id="keep").task(dashboard_tasks.echo, "kept")
    gator.options(task_id="drop").task(dashboard_tasks.echo, "dropped")
    gator.options(task_id="later", delay_by=3600).task(dashboard_tasks.echo, "later")
    url = dashboard(dsn, processes, token="a password for the browser test")

    # The login redirect the red team found (/%09/evil.example/phish) lands on the dashboard.
    browser.get(url + "login?next=/%09/evil.example/phish")
    wait(browser, lambda d: d.find_elements(By.ID, "password"), "the login page")
    browser.find_element(By.ID, "password").send_keys("a password for the browser test")
    browser.find_element(By.ID, "login").click()
    wait(browser, lambda d: d.find_elements(By.ID, "overview"), "the overview after the login")
    assert browser.current_url.startswith(url), browser.current_url

    # Cancel a waiting task from the queue view: it asks first, on a page of its own.
    browser.get(url + "queue?" + urllib.parse.urlencode({"name": "orders", "state": "waiting"}))
    browser.find_element(By.CSS_SELECTOR, 'tr[data-task="drop"] a.cancel').click()
    wait(browser, lambda d: d.find_elements(By.ID, "confirm"), "the confirmation page")
    assert gator.status("drop") is not None  # asking changed nothing
    shoot(browser, "confirm-cancel", True)
    browser.find_element(By.ID, "confirm").click()
    wait(browser, lambda d: "Cancelled drop" in d.page_source, "the cancel message")
    assert gator.status("drop") is None and gator.status("keep") is not None
    assert not browser.find_elements(By.CSS_SELECTOR, 'tr[data-task="drop"]')

    # And a delayed one from its task page; "No, keep it" first changes nothing.
    browser.get(url + "task?" + urllib.parse.urlencode({"queue": "orders", "id": "later"}))
    browser.find_element(By.ID, "cancel-task").click()
    wait(browser, lambda d: d.find_elements(By.ID, "confirm"), "the confirmation page")
    browser.find_element(By.ID, "cancel").click()
    wait(browser, lambda d: d.find_elements(By.ID, "status"), "the task page again")
    assert gator.status("later") is not None
    browser.find_element(By.ID, "cancel-task").click()
    wait(browser, lambda d: d.find_elements(By.ID, "confirm"), "the confirmation page")
    browser.find_element(By.ID, "confirm").click()
    wait(browser, lambda d: "Cancelled later" in d.page_source, "the cancel message")
    assert gator.status("later") is None
    assert (gator.counts().waiting, gator.counts().delayed) == (1, 0)
    gator.backend.close()
