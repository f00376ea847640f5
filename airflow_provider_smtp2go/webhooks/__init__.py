"""SMTP2GO webhooks pushed into Airflow: receive, authenticate, dedupe, record as asset events.

* :mod:`.events`: a webhook post -> the ``ActivityEvent`` model of ``/activity/search`` (no Airflow);
* :mod:`.auth`: the ``Authorization`` header against the secret of connection ``smtp2go_webhook``;
* :mod:`.dedupe`: one receipt per event, claimed under a primary key in the metadata database;
* :mod:`.assets`: asset URIs ``smtp2go://<account>/<event type>`` and recording asset events;
* :mod:`.receiver`: the FastAPI app the plugin mounts at ``/smtp2go/webhooks`` (Airflow 3.1+).

Importing this package imports neither Airflow nor FastAPI.

Example::

    >>> from airflow_provider_smtp2go.webhooks.assets import asset_uri
    >>> asset_uri("hard-bounced", account="marketing")
    'smtp2go://marketing/hard-bounced'
"""
