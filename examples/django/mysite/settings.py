"""Settings of the example: SQLite for Django's database and for the task queue, through django.tasks."""

import os
from pathlib import Path

BASE_DIR = Path(__file__).resolve().parent.parent

SECRET_KEY = os.environ.get("DJANGO_SECRET_KEY", "only-for-the-example")
DEBUG = True
ALLOWED_HOSTS = ["localhost", "127.0.0.1", "testserver"]

INSTALLED_APPS = [
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    # manage.py latergator, and the checks of the TASKS backend.
    "alligator_django",
    "sosocial",
]
MIDDLEWARE = [
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
]
ROOT_URLCONF = "mysite.urls"
AUTH_USER_MODEL = "sosocial.User"
LOGIN_URL = "/login/"

DATABASES = {
    "default": {
        "ENGINE": "django.db.backends.sqlite3",
        "NAME": os.environ.get("SOSOCIAL_DB", str(BASE_DIR / "db.sqlite3")),
        # Every view runs in a transaction: the case where a task queued
        # too early cannot see the rows the view wrote.
        "ATOMIC_REQUESTS": True,
        # Tests use a file, not memory: the worker, another process, reads it.
        "TEST": {"NAME": os.environ.get("SOSOCIAL_TEST_DB", str(BASE_DIR / "test-db.sqlite3"))},
    }
}
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"
USE_TZ = True

SERVER_EMAIL = "sosocial@example.com"
if os.environ.get("SOSOCIAL_EMAIL_DIR"):
    EMAIL_BACKEND = "django.core.mail.backends.filebased.EmailBackend"
    EMAIL_FILE_PATH = os.environ["SOSOCIAL_EMAIL_DIR"]
else:
    EMAIL_BACKEND = "django.core.mail.backends.console.EmailBackend"

# Django's tasks framework, on an Alligator store. The DSN is an absolute
# path, so the web app and a worker started anywhere use the same file.
# Tasks enqueued inside a transaction (every view here: ATOMIC_REQUESTS) are
# sent when it commits (ENQUEUE_ON_COMMIT, on by default).
TASKS = {
    "default": {
        "BACKEND": "alligator_django.AlligatorBackend",
        "OPTIONS": {"DSN": os.environ.get("ALLIGATOR_DSN", f"sqlite:///{BASE_DIR / 'tasks.db'}")},
    }
}
