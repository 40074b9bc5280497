from alligator.constants import SUCCESS

from sosocial.queue import gator


def test_new_post_emails_the_followers(
    db, client, django_user_model, mailoutbox, settings, django_capture_on_commit_callbacks
):
    settings.ALLIGATOR_ASYNC = False  # the task runs here, before task() returns
    author = django_user_model.objects.create_user("ann")
    author.followers.add(django_user_model.objects.create_user("bob", email="bob@example.com"))
    client.force_login(author)

    # The test runs inside a transaction that is never committed: run the
    # on_commit callbacks (the view queues its task in one) at the block's end.
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post("/posts/new", {"message": "Hello"})

    assert response.status_code == 302
    assert [mail.to for mail in mailoutbox] == [["bob@example.com"]]


def test_new_post_queues_the_email(
    db, client, django_user_model, mailoutbox, django_capture_on_commit_callbacks
):
    author = django_user_model.objects.create_user("ann")
    author.followers.add(django_user_model.objects.create_user("bob", email="bob@example.com"))
    client.force_login(author)

    with django_capture_on_commit_callbacks(execute=True):
        client.post("/posts/new", {"message": "Hello"})
    assert gator.len() == 1
    assert mailoutbox == []

    task = gator.pop()  # runs the task at the front of the queue, here
    assert task.status == SUCCESS
    assert len(mailoutbox) == 1
