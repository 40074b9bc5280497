"""The tutorial's property tests of a task's arguments.

docs/tutorial.md, "Checking that arguments survive the queue".
"""

from alligator.testing import assert_result_round_trips, assert_round_trips
from alligator.testing.strategies import carryable_values
from hypothesis import given
from hypothesis import strategies as st

from sosocial.tasks import send_post_email


def test_the_email_call_reaches_the_worker_unchanged():
    assert_round_trips(send_post_email, 42, 7)


@given(
    user_id=st.integers(min_value=1, max_value=2**63 - 1),
    post_id=st.integers(min_value=1, max_value=2**63 - 1),
)
def test_any_ids_survive(user_id, post_id):
    assert_round_trips(send_post_email, user_id, post_id)


@given(value=carryable_values())
def test_any_value_a_task_may_return_comes_back_exactly(value):
    assert_result_round_trips(value)
