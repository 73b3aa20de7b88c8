"""The prediction history: the one writer (and its raw SQL, ``_sql``, private to this room), the
reads behind the results page, exports, feedback labels, pagination, and CSV batches.

Imports ``predictor.serving`` and below.
"""
