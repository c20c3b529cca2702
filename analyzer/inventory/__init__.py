"""The inventory's domain, above the storage layer (``analyzer.db``) and below the HTTP service:

- ``specs``: OpenAPI documents parsed, validated and imported;
- ``verdicts``: documented / shadow / zombie / orphan, recomputed from traffic and specs;
- ``findings``: the findings rules (one list; the API's kinds and counts come from it);
- ``openapi_export``: a service's OpenAPI 3.1 rebuilt from traffic;
- ``reports``: the PII exposure report (JSON, CSV, HTML);
- ``samples``: how stored PII samples are shown to a role that may not see them.

The analyzer's CLI and the inventory service both use these; nothing here imports
``inventory_api``.
"""
