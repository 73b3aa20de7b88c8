"""The trained models: artifacts (one format, verified before unpickling), versions and their
activation, training and its data, the training picture, each version's metrics, and the
comparison of a candidate with the active version on live rows.

Imports ``predictor.jobs`` (retraining is a job kind), ``predictor.ops``, ``predictor.models`` and
``predictor.schema``.
"""
