"""Airflow hooks for SMTP2GO: ``from airflow_provider_smtp2go.hooks.smtp2go import Smtp2goHook``."""
