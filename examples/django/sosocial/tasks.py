from django.conf import settings
from django.core.mail import send_mail
from django.tasks import task

from sosocial.models import Post, User


@task()
def send_post_email(user_id, post_id):
    user = User.objects.get(pk=user_id)
    post = Post.objects.get(pk=post_id)
    recipients = [follower.email for follower in user.followers.all()]
    send_mail(f"A new post by {user.username}", post.message, settings.SERVER_EMAIL, recipients)
    Post.objects.filter(pk=post.pk).update(followers_emailed=len(recipients))
    return len(recipients)
