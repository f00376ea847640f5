"""Airflow notifiers for SMTP2GO: ``from airflow_provider_smtp2go.notifications.smtp2go import Smtp2goNotifier``."""
