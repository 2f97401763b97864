"""Data-quality gate: Great Expectations suites on the raw feeds, stored results and alert emails.

``gx_runner`` runs the file-based GX context in ``expectations/`` (GX is imported lazily: ~7 s);
``alerts`` renders and sends the alert email once per alert key; ``store`` holds the SQL of
``raw.dq_validation_results``; ``tasks`` the bodies of the quality tasks the DAGs call.
"""
