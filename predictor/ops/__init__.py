"""Running the site safely: permissions, client addresses, request ids, the audit trail, API keys,
idempotency, rate limits and their counters, metrics, middleware, backups, SQLite's write turns,
and the probe of the object storage.

Imports ``predictor.models`` and ``predictor.schema`` only: every other room may use these.
"""
