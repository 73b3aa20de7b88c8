"""Writing to the prediction history: every entry point stores its answers through here."""

from .model_service import PredictionResult
from .models import Prediction


def record_prediction(
    *, result: PredictionResult, height_cm: float, weight_kg: float, source: str = Prediction.Source.FORM
) -> Prediction:
    return Prediction.objects.create(
        height_cm=height_cm,
        weight_kg=weight_kg,
        species=result.species,
        probability=result.probability,
        probabilities=result.probabilities,
        model_version_id=result.model.version_id,
        source=source,
    )
