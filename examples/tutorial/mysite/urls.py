from django.urls import path

from sosocial import views

urlpatterns = [
    path("posts/new", views.new_post, name="new_post"),
    path("", views.activity_feed, name="activity_feed"),
]
