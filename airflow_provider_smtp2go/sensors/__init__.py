"""Airflow sensors for SMTP2GO: ``from airflow_provider_smtp2go.sensors.smtp2go import Smtp2goActivitySensor``."""
