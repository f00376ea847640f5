"""Airflow triggers for SMTP2GO: ``from airflow_provider_smtp2go.triggers.smtp2go import Smtp2goActivityTrigger``."""
