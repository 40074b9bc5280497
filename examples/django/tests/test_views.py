from django.tasks import default_task_backend


def test_new_post_emails_the_followers(db, client, django_user_model, mailoutbox, settings):
    # Django's ImmediateBackend runs each task as it is enqueued: in tests, no worker needed.
    settings.TASKS = {"default": {"BACKEND": "django.tasks.backends.immediate.ImmediateBackend"}}
    author = django_user_model.objects.create_user("ann")
    author.followers.add(django_user_model.objects.create_user("bob", email="bob@example.com"))
    client.force_login(author)

    response = client.post("/posts/new", {"message": "Hello"})

    assert response.status_code == 302
    assert [mail.to for mail in mailoutbox] == [["bob@example.com"]]


def test_new_post_queues_the_email_when_the_request_commits(
    db, client, django_user_model, mailoutbox, django_capture_on_commit_callbacks
):
    author = django_user_model.objects.create_user("ann")
    author.followers.add(django_user_model.objects.create_user("bob", email="bob@example.com"))
    client.force_login(author)
    queue = default_task_backend.gator("default")

    # The test runs inside a transaction that is never committed: the task is
    # sent when the block runs the on_commit callbacks, at its end.
    with django_capture_on_commit_callbacks(execute=True):
        client.post("/posts/new", {"message": "Hello"})
        assert queue.len() == 0

    assert queue.len() == 1
    assert mailoutbox == []
