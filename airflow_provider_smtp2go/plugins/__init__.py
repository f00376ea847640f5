"""Airflow plugins this provider ships (see :mod:`.webhooks`)."""
