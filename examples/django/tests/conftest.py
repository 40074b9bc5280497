import pytest


@pytest.fixture(autouse=True)
def _empty_queue(settings):
    # One queue file serves the whole test run; each test starts with it empty.
    from django.tasks import task_backends

    backend = task_backends["default"]
    for queue in ("default", "default.django-runs"):
        backend.gator("default").backend.drop_all(queue)
    yield
    for queue in ("default", "default.django-runs"):
        backend.gator("default").backend.drop_all(queue)
