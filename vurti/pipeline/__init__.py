"""The service layer: fetch, update and host commands, wired from the parts by bootstrap.

Celery tasks and the CLI call these; no monitoring rule lives here (rules are in
vurti.analyze), only the order of steps, locks and after-commit work.
"""
