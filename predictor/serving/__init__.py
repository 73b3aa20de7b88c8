"""Answering with the trained models: the model service (the only module that loads artifacts),
its result types, candidates (shadow and canary) and the health check.

``_closed_form`` is private to this room. Imports ``predictor.registry`` and below.
"""
