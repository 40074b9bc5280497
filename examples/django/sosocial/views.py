from django.contrib.auth.decorators import login_required
from django.http import HttpResponse
from django.shortcuts import redirect
from django.views.decorators.http import require_POST

from sosocial.models import Post
from sosocial.tasks import send_post_email


@login_required
@require_POST
def new_post(request):
    post = Post.objects.create(author=request.user, message=request.POST["message"])
    # The view runs in a transaction (ATOMIC_REQUESTS): the task is sent when
    # it commits, so the worker finds the post; if it rolls back, never.
    send_post_email.enqueue(request.user.pk, post.pk)
    return redirect("activity_feed")


@login_required
def activity_feed(request):
    return HttpResponse(f"{request.user.posts.count()} post(s)")
