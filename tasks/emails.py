"""Celery tasks on the emails queue."""
