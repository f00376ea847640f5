"""Airflow integration helpers: ``utils.emailer.send_email`` is the ``[email] email_backend``."""
