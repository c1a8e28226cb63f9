"""Celery tasks on the audit queue."""
