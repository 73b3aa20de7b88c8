"""The BentoML side of bench/serving_comparison.py: the GaussianNB from the model store, one prediction a request.

Answers like the site's API does (the species and its probability) but stores nothing. Access
logs are off, as they are for the site's gunicorn in the benchmark.

    BENTOML_HOME=... bentoml serve bentoml_service:AnimalClassifier --port PORT
"""

import os

import bentoml

WORKERS = int(os.environ.get("BENCH_WORKERS", "2"))


@bentoml.service(workers=WORKERS, logging={"access": {"enabled": False}})
class AnimalClassifier:
    def __init__(self) -> None:
        self.model = bentoml.sklearn.load_model("animal_classifier:latest")

    @bentoml.api
    def predict(self, height_cm: float, weight_kg: float) -> dict:
        probabilities = self.model.predict_proba([[height_cm, weight_kg]])[0]
        best = int(probabilities.argmax())
        return {"species": str(self.model.classes_[best]), "probability": float(probabilities[best])}
