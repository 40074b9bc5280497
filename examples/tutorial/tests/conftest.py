import pytest


@pytest.fixture(autouse=True)
def _empty_queue():
    # One queue file serves the whole test run; each test starts with it empty.
    from sosocial.queue import gator

    gator.drop_all()
    yield
    gator.drop_all()
