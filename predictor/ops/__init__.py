"""Running the site safely: permissions, client addresses, request ids, the audit trail, API keys,
idempotency, rate limits and their counters, metrics, middleware, backups, and SQLite's write turns.

Imports ``predictor.models`` and ``predictor.schema`` only: every other room may use these.
"""
