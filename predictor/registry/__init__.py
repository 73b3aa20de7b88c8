"""The trained models: artifacts (one format, verified before unpickling), versions and their
activation, training and its data, the training picture, and each version's metrics.

Imports ``predictor.jobs`` (retraining is a job kind), ``predictor.ops``, ``predictor.models`` and
``predictor.schema``.
"""
