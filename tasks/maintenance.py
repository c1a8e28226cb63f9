"""Celery tasks on the maintenance queue."""
