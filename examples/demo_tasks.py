"""The tasks of the demo: plain functions, nothing Alligator-specific in them."""

from __future__ import annotations

import os
import time

OUTBOX = os.environ.get("DEMO_OUTBOX", "outbox.txt")


def send_post_email(user_id: int, post_id: int) -> str:
    """Pretends to email a user's followers about a new post (slowly)."""
    time.sleep(0.05)
    line = f"to followers of user {user_id}: new post {post_id}"
    with open(OUTBOX, "a") as outbox:
        outbox.write(line + "\n")
    return line


def flaky_api_call(key: str) -> str:
    """Fails on its first try (the API is 'down'), then works."""
    marker = f"{OUTBOX}.{key}.tried"
    if not os.path.exists(marker):
        open(marker, "w").close()
        raise ConnectionError("the API is down, try again later")
    return f"fetched {key}"


def make_thumbnail(image_id: int) -> str:
    """Always fails: the image is corrupt. Ends in the dead letters."""
    raise ValueError(f"image {image_id} is corrupt")
