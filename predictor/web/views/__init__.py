"""The site's pages, one module per concern: ``form`` (the prediction form and its answer),
``history`` (the results page, its CSV, labels), ``batches`` (uploads and jobs),
``model_versions`` (versions, retraining, candidates) and ``site`` (language, health check).

Views validate with a form, ask one domain function, and render; they hold no rule of their own.
"""
