from django.conf import settings
from django.contrib.auth.decorators import login_required
from django.db import transaction
from django.http import HttpResponse
from django.shortcuts import redirect
from django.views.decorators.http import require_POST

from sosocial.models import Post
from sosocial.queue import gator
from sosocial.tasks import send_post_email


@login_required
@require_POST
def new_post(request):
    post = Post.objects.create(author=request.user, message=request.POST["message"])
    # Queue once the post is committed: a worker could otherwise run the
    # task before the commit and not find the post.
    transaction.on_commit(lambda: queue_post_email(request.user.pk, post.pk))
    return redirect("activity_feed")


def queue_post_email(user_id, post_id):
    with gator.options(is_async=settings.ALLIGATOR_ASYNC) as opts:
        opts.task(send_post_email, user_id, post_id)


@login_required
def activity_feed(request):
    return HttpResponse(f"{request.user.posts.count()} post(s)")
