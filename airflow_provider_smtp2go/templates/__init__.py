"""Templates as code: a folder of SMTP2GO templates in the repository, checked and synced.

One module per concept:

* :mod:`~airflow_provider_smtp2go.templates.folder`: the on-disk format and its validation;
* :mod:`~airflow_provider_smtp2go.templates.rendering`: how ``{{ var }}`` is filled (the
  sandbox's sends use the same function);
* :mod:`~airflow_provider_smtp2go.templates.preview`: render with sample data, report
  undeclared and unused variables (``python -m airflow_provider_smtp2go.templates preview DIR``);
* :mod:`~airflow_provider_smtp2go.templates.plan`: local vs SMTP2GO, the diff, and applying it
  (``Smtp2goSyncTemplatesOperator`` runs it in a DAG).

Nothing here imports Airflow; this package imports nothing on its own, so the sandbox can use
its rendering cheaply.
"""
