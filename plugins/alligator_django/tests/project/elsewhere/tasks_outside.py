"""A Django task outside any installed app's tasks module: the worker refuses it."""

from django.tasks import task


@task()
def outside():
    return "ran"
