"""A small real Django project for alligator_django's tests: the store's DSN comes from the environment."""

import os
from pathlib import Path

BASE_DIR = Path(__file__).resolve().parent.parent
SECRET_KEY = "only-for-the-tests"
DEBUG = os.environ.get("SHOP_DEBUG") == "1"
USE_TZ = True
INSTALLED_APPS = ["django.contrib.contenttypes", "alligator_django", "shop"]
DATABASES = {
    "default": {
        "ENGINE": "django.db.backends.sqlite3",
        "NAME": os.environ.get("SHOP_DB", str(BASE_DIR / "db.sqlite3")),
        # A file, not memory: the worker, another process, opens it too.
        "TEST": {"NAME": os.environ.get("SHOP_TEST_DB", str(BASE_DIR / "test-db.sqlite3"))},
    }
}
if os.environ.get("SHOP_PG_DB"):
    # The project on PostgreSQL instead (postgresql://user@host:port/name): its tasks in the same database.
    from urllib.parse import urlsplit

    _pg = urlsplit(os.environ["SHOP_PG_DB"])
    DATABASES = {
        "default": {
            "ENGINE": "django.db.backends.postgresql",
            "NAME": _pg.path.lstrip("/"),
            "USER": _pg.username or "",
            "PASSWORD": _pg.password or "",
            "HOST": _pg.hostname or "",
            "PORT": str(_pg.port or ""),
        }
    }
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"
TASKS = {
    "default": {
        "BACKEND": "alligator_django.AlligatorBackend",
        "QUEUES": ["default", "ordered"],
        "OPTIONS": {
            "DSN": os.environ.get("SHOP_TASKS_DSN", f"sqlite:///{BASE_DIR / 'tasks.db'}"),
            **({"SECRET": os.environ["SHOP_SECRET"]} if os.environ.get("SHOP_SECRET") else {}),
            # The store in the project's own database, tasks written in its transactions.
            **(
                {"DATABASE": os.environ["SHOP_TASKS_DATABASE"]}
                if os.environ.get("SHOP_TASKS_DATABASE")
                else {}
            ),
            **({"ENQUEUE_ON_COMMIT": False} if os.environ.get("SHOP_ON_COMMIT") == "0" else {}),
        },
    },
    "immediate": {
        "BACKEND": "django.tasks.backends.immediate.ImmediateBackend",
        "QUEUES": ["default", "ordered"],
    },
}
