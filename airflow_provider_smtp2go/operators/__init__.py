"""Airflow operators for SMTP2GO.

``from airflow_provider_smtp2go.operators.smtp2go import Smtp2goSendEmailOperator`` sends one
email; ``operators.bulk`` sends many.
"""
