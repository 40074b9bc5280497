"""Set-up of the worker, run before any task: latergator ... --setup sosocial.worker_setup"""

import os

import django

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "mysite.settings")
django.setup()
