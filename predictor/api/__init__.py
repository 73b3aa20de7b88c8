"""The JSON API (django-ninja): endpoints and their schemas, versioned under /api/v1.

On top, beside ``predictor.web``: neither imports the other; both ask the same domain functions.
"""
