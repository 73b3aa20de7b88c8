from django import forms
from django.conf import settings
from django.core.exceptions import ValidationError

from .features import FEATURES, HEIGHT, WEIGHT, Feature


def _measurement_field(feature: Feature) -> forms.FloatField:
    def validate_bounds(value: float) -> None:
        if message := feature.bounds_error(value):
            raise ValidationError(message, code="out_of_bounds")

    return forms.FloatField(
        label=f"{feature.label} ({feature.unit})",
        validators=[validate_bounds],
        error_messages={
            "required": f"Enter the {feature.label.lower()} in {feature.unit}.",
            "invalid": f"{feature.label} must be a number in {feature.unit}, such as 42.5.",
        },
        widget=forms.NumberInput(attrs={"step": "any", "min": "0", "max": f"{feature.max_value:g}"}),
    )


class PredictionForm(forms.Form):
    """The visitor's measurements; field names match the original tutorial's inputs."""

    height = _measurement_field(HEIGHT)
    weight = _measurement_field(WEIGHT)

    def measurements(self) -> dict[str, float]:
        """The cleaned inputs keyed by model field, as the service and the history expect them."""
        return {feature.field: self.cleaned_data[feature.form_name] for feature in FEATURES}


class BatchUploadForm(forms.Form):
    """A CSV of measurements to predict in one go; the file's content is checked by predictor.batch."""

    file = forms.FileField(
        label="CSV file",
        help_text="A header line naming Height and Weight; other columns are kept in the results.",
        error_messages={"required": "Choose a CSV file to upload.", "empty": "The file is empty."},
        widget=forms.FileInput(attrs={"accept": ".csv,text/csv"}),
    )

    def clean_file(self):
        upload = self.cleaned_data["file"]
        limit = settings.BATCH_UPLOAD_MAX_BYTES
        if upload.size > limit:
            raise ValidationError(
                f"The file is {upload.size / 1e6:.1f} MB; at most {limit / 1e6:.0f} MB can be uploaded.",
                code="too_large",
            )
        return upload
