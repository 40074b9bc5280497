from django.conf import settings
from django.core.mail import send_mail

from sosocial.models import Post, User
from sosocial.worker_db import fresh_connections


def send_post_email(user_id, post_id):
    with fresh_connections():
        user = User.objects.get(pk=user_id)
        post = Post.objects.get(pk=post_id)
        recipients = [follower.email for follower in user.followers.all()]
        send_mail(f"A new post by {user.username}", post.message, settings.SERVER_EMAIL, recipients)
        Post.objects.filter(pk=post.pk).update(followers_emailed=len(recipients))
        return len(recipients)
