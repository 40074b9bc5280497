"""Every session of the project: `nox` runs the default ones (the whole test suite).

Each backend's tests run in a session that installs only the core and that
backend, which proves a user can install just what they need.
"""

from __future__ import annotations

import glob
import os
import shutil

import nox

nox.options.default_venv_backend = "uv|virtualenv"
# uv, unlike pip, installs without compiling bytecode; with the tests'
# PYTHONDONTWRITEBYTECODE every worker process then compiles redis-py and our
# packages again at start-up (0.5-1 s on a busy machine instead of 0.15 s),
# which the reliability tests' re-delivery deadlines count against.
os.environ.setdefault("UV_COMPILE_BYTECODE", "1")
# Fresh environments: a reused one would keep a stale copy of our packages.
nox.options.reuse_existing_virtualenvs = False
nox.options.error_on_missing_interpreters = True
nox.options.sessions = [
    "core",
    "locmem",
    "sqlite",
    "redis",
    "postgres",
    "cluster",
    "reliability",
    "integration",
    "lint",
    "docs",
    "build",
    "demo",
    "first_hour",
    "django",
    "browser",
]

#: `./scripts/nox` with no arguments runs the default sessions in these three
#: lanes at once. Most tests wait on real processes, servers and leases (one
#: lane used about a fifth of a 2-core machine), so three lanes keep it busy
#: and the whole run near eight minutes. Sessions that share a Redis database
#: (the reliability proofs' db 11, the plugin's db 3, the commands' db 0, the
#: integration tests' db 4: each has its own) or files (browser writes the
#: screenshots docs builds from, so both stay in one lane, browser first) are
#: placed with that in mind; each lane takes about a third of the run. The
#: postgres session (about 4 minutes: the kit on the real server, the process
#: proofs, a private cluster's restart) joins the lane with the fewest
#: sessions; its databases and clusters are its own. The reliability proofs
#: take about six minutes alone, so their lane holds little else; locmem and
#: first_hour (no Redis: locmem and SQLite files of their own) end the others.
LANES = [
    ["reliability", "django", "build", "demo"],
    ["integration", "redis", "postgres", "lint", "locmem"],
    ["core", "sqlite", "cluster", "browser", "docs", "first_hour"],
]

CORE = "./alligator_core"
PLUGINS = {
    "locmem": "./plugins/alligator_locmem",
    "sqlite": "./plugins/alligator_sqlite",
    "redis": "./plugins/alligator_redis",
    "postgres": "./plugins/alligator_postgres",
}
#: The django.tasks backend (Python 3.12+, Django 6.1): not a store, so not in PLUGINS.
DJANGO_PLUGIN = "./plugins/alligator_django"
#: A backend with only the required part of the contract (tests/minimal_store):
#: installed where tests/minimal runs, and for the type check of the tests.
MINIMAL_STORE = "./tests/minimal_store"
TEST_DEPS = ["pytest>=7", "hypothesis>=6.80", "pytest-timeout"]
# Every default session installs under these pins (compiled from
# requirements/ci.in by `nox -s lock`), so a release elsewhere cannot turn CI
# red; `nox -s latest` runs the checks against the newest releases instead.
CONSTRAINTS = os.path.join(os.path.dirname(os.path.abspath(__file__)), "requirements", "ci.txt")
# uv builds our packages (hatchling) in isolated environments: pinned too.
os.environ.setdefault("UV_BUILD_CONSTRAINT", CONSTRAINTS)


#: The core's own tests: what runs on locmem alone (the other folders need
#: real stores, processes or the dashboard's extra and have sessions of their own).
CORE_TESTS = [
    "tests",
    "--ignore=tests/reliability",
    "--ignore=tests/first_hour",
    "--ignore=tests/dashboard",
    "--ignore=tests/operating",
    "--ignore=tests/integration",
    "--ignore=tests/minimal",
    "-m",
    "not soak",
]


def _install(session: nox.Session, *args: str, bytecode: bool = True) -> None:
    """Installs ``args`` under the project's pinned constraints.

    ``bytecode=False`` for a session that starts no worker (lint, docs,
    build): compiling sphinx's or mypy's modules at install took longer than
    the few imports that use them.
    """
    env = {} if bytecode else {"UV_COMPILE_BYTECODE": "0"}
    session.install("-c", CONSTRAINTS, *args, env=env)


def _pytest(session: nox.Session, *paths: str, report: str = "") -> None:
    args = session.posargs or ["-q", "-p", "no:cacheprovider", *paths]
    reports = os.environ.get("ALLIGATOR_JUNIT_DIR")
    if reports:
        # .ci/run adds up these reports to say how many tests ran.
        args = [*args, f"--junitxml={reports}/{report or session.name}.xml"]
    session.run("pytest", *args, env={"PYTHONDONTWRITEBYTECODE": "1"})


@nox.session
def core(session: nox.Session) -> None:
    """The core's tests (run against the in-memory backend) and the property tests."""
    _install(session, *TEST_DEPS, "-e", CORE, "-e", PLUGINS["locmem"])
    _pytest(
        session,
        *CORE_TESTS,
        # The docstrings' examples (each on a store of its own). The kit's
        # self-test (each deliberately broken variant of locmem fails the
        # kit) is in locmem's tests: the locmem session runs it.
        "--doctest-modules",
        "alligator_core/src/alligator",
    )


@nox.session
def fast(session: nox.Session) -> None:
    """The inner loop: the core's tests, locmem's and SQLite's, without the kit's self-test or soaks."""
    _install(session, *TEST_DEPS, "-e", CORE, "-e", PLUGINS["locmem"], "-e", PLUGINS["sqlite"])
    session.run(
        "pytest",
        *(
            session.posargs
            or [
                "-q",
                "-p",
                "no:cacheprovider",
                "-x",
                "tests",
                "--ignore=tests/reliability",
                "--ignore=tests/first_hour",
                "--ignore=tests/dashboard",
                "--ignore=tests/operating",
                "--ignore=tests/integration",
                "--ignore=tests/minimal",
                f"{PLUGINS['locmem']}/tests",
                f"--ignore={PLUGINS['locmem']}/tests/kit/test_kit.py",
                # Worker processes against SQLite: the nox sqlite session runs them.
                f"{PLUGINS['sqlite']}/tests",
                f"--ignore={PLUGINS['sqlite']}/tests/test_processes.py",
                "-m",
                "not soak",
            ]
        ),
        env={"PYTHONDONTWRITEBYTECODE": "1"},
    )


@nox.session
def reliability(session: nox.Session) -> None:
    """Short forms of the fault and hostile-input proofs, with real processes and servers."""
    # [metrics]: a supervisor SIGKILLed under --metrics-port must free the port.
    _install(
        session, *TEST_DEPS, f"{CORE}[metrics]", PLUGINS["sqlite"], PLUGINS["redis"], PLUGINS["postgres"]
    )
    _pytest(session, "tests/reliability", "-m", "not soak")


@nox.session
def integration(session: nox.Session) -> None:
    """Core features on real stores (SQLite files, Redis), the `alligator` command as a user runs it, and
    a store with only the required part under real workers, the command, doctor and the dashboard."""
    # [dashboard]: `alligator dashboard` is one of the commands run as a user runs it.
    _install(
        session,
        *TEST_DEPS,
        f"{CORE}[dashboard]",
        PLUGINS["locmem"],
        PLUGINS["sqlite"],
        PLUGINS["redis"],
        MINIMAL_STORE,
    )
    _pytest(session, "tests/integration", "tests/operating", "tests/minimal", "-m", "not soak")


@nox.session
def locmem(session: nox.Session) -> None:
    """The contract kit against locmem, and the kit's self-test: its broken variants of locmem fail it."""
    _install(session, *TEST_DEPS, CORE, PLUGINS["locmem"])
    _pytest(session, f"{PLUGINS['locmem']}/tests")


@nox.session
def sqlite(session: nox.Session) -> None:
    """The kit and the SQLite-specific tests, with only the core and SQLite installed."""
    _install(session, *TEST_DEPS, CORE, PLUGINS["sqlite"])
    _pytest(session, f"{PLUGINS['sqlite']}/tests", "-m", "not soak")


@nox.session
def redis(session: nox.Session) -> None:
    """The kit against fakeredis and a real Redis, with only the core and Redis installed."""
    _install(session, *TEST_DEPS, "fakeredis[lua]>=2.20", CORE, PLUGINS["redis"])
    _pytest(session, f"{PLUGINS['redis']}/tests", "-m", "not soak and not cluster")


@nox.session
def postgres(session: nox.Session) -> None:
    """The kit and the PostgreSQL-specific tests against the machine's real server, with only the core
    and PostgreSQL installed (and the SQLite plugin, for its transactional enqueue beside it)."""
    _install(session, *TEST_DEPS, CORE, PLUGINS["postgres"], PLUGINS["sqlite"])
    _pytest(session, f"{PLUGINS['postgres']}/tests", "-m", "not soak")


@nox.session
def cluster(session: nox.Session) -> None:
    """The kit, and the schedules' exactly-once proof, against a 3-master Redis Cluster on loopback ports."""
    _install(session, *TEST_DEPS, CORE, PLUGINS["redis"])
    tests = f"{PLUGINS['redis']}/tests"
    _pytest(
        session,
        f"{tests}/test_redis_cluster.py",
        f"{tests}/test_redis_cluster_schedules.py",
        f"{tests}/test_redis_cluster_limits.py",
        "-m",
        "cluster",
    )


@nox.session
def lint(session: nox.Session) -> None:
    """ruff (style, and no pickle anywhere) and mypy (strict on the packages, not strict on the tests)."""
    _install(
        session,
        "ruff",
        "mypy",
        "pytest",
        "hypothesis",
        "redis",
        "fakeredis",
        "selenium",
        f"{CORE}[dashboard,metrics]",
        *PLUGINS.values(),
        MINIMAL_STORE,
        bytecode=False,
    )
    session.run("ruff", "check", ".")
    session.run("ruff", "format", "--check", ".")
    session.run("mypy", "-p", "alligator", *(arg for name in PLUGINS for arg in ("-p", f"alligator_{name}")))
    # The tests, not strictly; one tree at a time (each has its own conftest).
    for tests in ["tests", *(f"{path}/tests" for path in PLUGINS.values())]:
        session.run("mypy", "--config-file", "mypy-tests.ini", tests)


@nox.session
def docs(session: nox.Session) -> None:
    """Builds the documentation; any warning fails it."""
    _install(session, "-r", "docs/requirements.txt", CORE, *PLUGINS.values(), bytecode=False)
    session.run("sphinx-build", "-W", "--keep-going", "-n", "-b", "html", "docs", "docs/_build/html")


@nox.session
def build(session: nox.Session) -> None:
    """Builds a wheel of every distribution on its own."""
    _install(session, "build", bytecode=False)
    out = os.path.join(session.create_tmp(), "dist")
    # build's own isolated environments, made by uv when it is there (as
    # ./scripts/nox puts it on PATH): seconds instead of pip's ~9 s a wheel.
    installer = ["--installer", "uv"] if shutil.which("uv") else []
    for path in [CORE, *PLUGINS.values(), DJANGO_PLUGIN]:
        session.run(
            *("python", "-m", "build", *installer, "--wheel", "--outdir", out, path),
            env={"PIP_CONSTRAINT": CONSTRAINTS, "UV_CONSTRAINT": CONSTRAINTS},
        )


@nox.session
def demo(session: nox.Session) -> None:
    """The README's demo: the tutorial's flow on the embedded default backend."""
    _install(session, CORE, PLUGINS["sqlite"])
    session.run("python", "examples/demo.py")


@nox.session(name="first_hour")
def first_hour(session: nox.Session) -> None:
    """A new user's first hour with real processes: a fresh virtualenv, the README's install, latergator."""
    _install(session, *TEST_DEPS, CORE, PLUGINS["locmem"], PLUGINS["sqlite"])
    _pytest(session, "tests/first_hour")


def _interpreter(version: str) -> str:
    """A Python ``version`` interpreter for a session that needs a newer one than the project's 3.10.

    pyenv's build when there is one (its ``pythonX.Y`` shim on PATH answers
    only for the selected version, so nox's own search may find a shim that
    fails); else ``version``, for nox to find as ``pythonX.Y`` on PATH.
    """
    pattern = os.path.expanduser(
        os.path.join("~", ".pyenv", "versions", f"{version}.*", "bin", f"python{version}")
    )
    found = sorted(
        glob.glob(pattern),
        key=lambda path: [int(part) for part in path.split(os.sep)[-3].split(".") if part.isdigit()],
    )
    return found[-1] if found else version


#: Django 6.1, which django.tasks backends are written for, needs Python 3.12.
DJANGO_PYTHON = _interpreter("3.12")


@nox.session(python=DJANGO_PYTHON)
def django(session: nox.Session) -> None:
    """Django: the tutorial's project (Alligator's own API), the example on django.tasks, and the
    django.tasks backend (plugins/alligator_django): real projects with real `latergator` workers,
    on SQLite, and on Redis (database 2) for the backend; PostgreSQL (a database of its own on the
    machine's server) for tasks written in Django's own transaction."""
    _install(
        session,
        *TEST_DEPS,
        "django>=6.1,<6.2",
        "pytest-django>=4.5",
        "mypy",
        CORE,
        PLUGINS["sqlite"],
        PLUGINS["redis"],
        PLUGINS["postgres"],
        DJANGO_PLUGIN,
    )
    # The lint session runs on 3.10, without Django: the plugin's type check is here.
    session.run("mypy", "--python-version", "3.12", "-p", "alligator_django")
    session.run(
        "mypy", "--config-file", "mypy-tests.ini", "--python-version", "3.12", f"{DJANGO_PLUGIN}/tests"
    )
    tmp = os.path.abspath(session.create_tmp())
    # The example keeps its queue and its test database outside the checkout.
    env = {
        "ALLIGATOR_DSN": f"sqlite:///{tmp}/tasks.db",
        "SOSOCIAL_TEST_DB": f"{tmp}/test-db.sqlite3",
        "SHOP_TEST_DB": f"{tmp}/shop-test-db.sqlite3",
        "PYTHONDONTWRITEBYTECODE": "1",
    }
    reports = os.environ.get("ALLIGATOR_JUNIT_DIR")
    for folder, report in (
        ("examples/tutorial", "django-tutorial"),
        ("examples/django", "django"),
        ("plugins/alligator_django/tests", "django-backend"),
    ):
        args = session.posargs or ["-q", "-p", "no:cacheprovider"]
        if reports:
            args = [*args, f"--junitxml={reports}/{report}.xml"]
        with session.chdir(folder):
            session.run("pytest", *args, env=env)


@nox.session
def browser(session: nox.Session) -> None:
    """The dashboard and the metrics: the web app, real processes, and headless Debian Chromium driving it."""
    for path in ("/usr/bin/chromium", "/usr/bin/chromedriver"):
        # Debian's packages (.ci/run installs them): nothing downloads a browser at run time.
        if not os.path.exists(path):
            session.error(f"{path} is missing: apt-get install chromium chromium-driver")
    _install(session, *TEST_DEPS, "selenium>=4.11", f"{CORE}[dashboard,metrics]", *PLUGINS.values())
    _pytest(session, "tests/dashboard")


@nox.session
def soak(session: nox.Session) -> None:
    """The long forms of the proofs whose short forms run by default (SIGKILL soaks, big concurrency
    runs, a thousand hostile payloads, fakeredis's full state machine run, a stale worker record,
    a producer SIGKILLed hundreds of times before its commit)."""
    _install(session, *TEST_DEPS, "fakeredis[lua]>=2.20", CORE, *PLUGINS.values())
    # One pytest per tree: the trees hold test modules of the same name
    # (test_processes.py), and one pytest process cannot import both.
    _pytest(session, "tests/reliability", "-m", "soak", report="soak-reliability")
    _pytest(session, f"{PLUGINS['sqlite']}/tests", "-m", "soak", report="soak-sqlite")
    _pytest(session, f"{PLUGINS['redis']}/tests", "-m", "soak and not cluster", report="soak-redis")
    _pytest(session, f"{PLUGINS['postgres']}/tests", "-m", "soak", report="soak-postgres")
    _pytest(session, "tests/operating/test_doctor_workers.py", "-m", "soak", report="soak-operating")


@nox.session
def bench(session: nox.Session) -> None:
    """Throughput and memory benchmarks, ours beside Huey's, SqliteHuey's, Dramatiq's, taskiq's and
    Procrastinate's (on the same PostgreSQL server as ours)."""
    _install(
        session,
        CORE,
        *PLUGINS.values(),
        "huey",
        "dramatiq[redis]",
        "taskiq",
        "taskiq-redis",
        "procrastinate",
        "psutil",
    )
    session.run("python", "bench/run.py", *session.posargs)


@nox.session
def lock(session: nox.Session) -> None:
    """Recompiles requirements/ci.txt (the pins CI installs under) from requirements/ci.in."""
    session.install("uv")
    session.run(
        "uv",
        "pip",
        "compile",
        "--universal",
        "--python-version",
        "3.10",
        "--upgrade",
        "requirements/ci.in",
        "-o",
        "requirements/ci.txt",
    )


@nox.session
def latest(session: nox.Session) -> None:
    """Lint, types and the core's tests against the newest releases, without the pins: shows drift early.

    Not a default session: a release elsewhere must not block landing; run it
    on purpose (or on a schedule) and refresh the pins with `nox -s lock`.
    """
    session.install(
        "--upgrade",
        "-r",
        "requirements/ci.in",
        f"{CORE}[dashboard,metrics]",
        *PLUGINS.values(),
        env={"UV_BUILD_CONSTRAINT": ""},
    )
    session.run("ruff", "check", ".")
    session.run("mypy", "-p", "alligator", *(arg for name in PLUGINS for arg in ("-p", f"alligator_{name}")))
    session.run("pytest", "-q", "-p", "no:cacheprovider", *CORE_TESTS, env={"PYTHONDONTWRITEBYTECODE": "1"})
