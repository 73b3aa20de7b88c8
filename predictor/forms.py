from django import forms
from django.core.exceptions import ValidationError

from .features import FEATURES, HEIGHT, SPECIES, WEIGHT, Feature


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


class LabelForm(forms.Form):
    """One click on the results page: the actual species of one prediction."""

    species = forms.ChoiceField(
        choices=[(species, species) for species in SPECIES],
        error_messages={
            "required": f"Choose the actual species: {' or '.join(SPECIES)}.",
            "invalid_choice": f"%(value)s is not a species staff can record; choose {' or '.join(SPECIES)}.",
        },
    )
    next = forms.CharField(required=False)
