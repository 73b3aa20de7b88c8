import datetime as dt

from django import forms
from django.conf import settings
from django.core.exceptions import ValidationError
from django.utils.functional import lazy
from django.utils.text import capfirst, format_lazy
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _

from predictor.history import batch, selectors
from predictor.models import (
    DEFAULT_SORT,
    INPUT_SORTS,
    SORT_CHOICES,
    HistoryQuery,
    MLModel,
    ModelVersion,
    UnknownModel,
)
from predictor.registry import training
from predictor.schema import numbers, wording
from predictor.schema.features import ANIMALS_SCHEMA, ANIMALS_SLUG, FEATURES, TARGET_COLUMN
from predictor.schema.inputs import Input, ModelSchema
from predictor.schema.wording import one_of
from predictor.web import answers

SENTENCE_GAP = lazy(wording.sentence_gap, str)()  # between two sentences side by side, as each language joins them


class MeasurementField(forms.FloatField):
    """A measurement typed as text, read by numbers.parse: the rule CSV cells follow too."""

    def to_python(self, value):
        if isinstance(value, int | float):
            return float(value)
        if value in self.empty_values:
            return None
        try:
            return numbers.parse(str(value))
        except numbers.NotANumber as error:
            if error.code == "empty":
                return None  # only spaces: the "required" message says what to enter
            code = "foreign_digits" if error.code == "foreign_digits" else "invalid"
            raise ValidationError(self.error_messages[code], code=code) from None

    def validate(self, value):
        # FloatField refuses an infinite value (1e400 overflows to one) as "not a number"; the
        # bounds (features.Feature.bounds_error) say what the API says of it: not a finite number.
        forms.Field.validate(self, value)


class WholeNumberField(forms.IntegerField):
    """A whole number typed as text, read by numbers.parse_whole: Django's int() took any script's digits (١٠)."""

    default_error_messages = {"foreign_digits": _("Write the number with the digits 0–9.")}

    def to_python(self, value):
        if isinstance(value, int):
            return value
        if value in self.empty_values:
            return None
        try:
            return numbers.parse_whole(str(value))
        except numbers.NotANumber as error:
            if error.code == "empty":
                return None
            code = "foreign_digits" if error.code == "foreign_digits" else "invalid"
            raise ValidationError(self.error_messages[code], code=code) from None


def _measurement_field(feature: Input) -> MeasurementField:
    def validate_bounds(value: float) -> None:
        if message := feature.bounds_error(value):
            raise ValidationError(message, code="out_of_bounds")

    attrs = {"step": "any", "inputmode": "decimal"}
    # The animals form shows its hints beside the form (predict.html); other models' under each field.
    help_text = "" if feature.v1_field else feature.hint
    if feature.min_value is not None and feature.max_value is not None:
        smallest, largest = f"{feature.min_value:g}", f"{feature.max_value:g}"
        attrs |= {"min": smallest, "max": largest}
        bounds = (
            format_lazy(_("At least {min} and at most {max} {unit}."), min=smallest, max=largest, unit=feature.unit)
            if feature.unit
            else format_lazy(_("At least {min} and at most {max}."), min=smallest, max=largest)
        )
        help_text = format_lazy("{}{}{}", help_text, SENTENCE_GAP, bounds) if help_text else bounds
    if feature.example is not None and not feature.v1_field:
        attrs["placeholder"] = feature.display(feature.example)
    field = MeasurementField(
        label=feature.label_with_unit,
        help_text=help_text,
        validators=[validate_bounds],
        error_messages=feature.error_messages,
        widget=forms.NumberInput(attrs=attrs),
    )
    field.unit = feature.unit  # shown beside the input
    return field


def _category_field(feature: Input) -> forms.ChoiceField:
    return forms.ChoiceField(
        label=feature.label,
        choices=[("", _("Choose…")), *((value, value) for value in feature.categories)],
        help_text=feature.hint,
        error_messages=feature.error_messages,
    )


# One field per measurement, named as in the original tutorial's inputs (features.FEATURES).
MeasurementForm = type(
    "MeasurementForm", (forms.Form,), {feature.form_name: _measurement_field(feature) for feature in FEATURES}
)


class PredictionForm(MeasurementForm):
    """The visitor's measurements, and the submission key that makes the form store once (see answers)."""

    submission_key = forms.CharField(required=False, widget=forms.HiddenInput)

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        if not self.is_bound:
            self.initial["submission_key"] = answers.new_submission_key()

    def clean_submission_key(self) -> str | None:
        key = self.cleaned_data["submission_key"]
        if key and not answers.is_valid_submission_key(key):
            raise ValidationError(_("This form was damaged on its way; reload the page and send it again."))
        return key or None

    def measurements(self) -> dict[str, float]:
        """The cleaned inputs keyed by input name, as the service and the history expect them."""
        return {feature.name: self.cleaned_data[feature.form_name] for feature in FEATURES}


class InputsForm(forms.Form):
    """Any model's inputs, one field per input named by it (a number with its unit, a category's values to choose)."""

    submission_key = forms.CharField(required=False, widget=forms.HiddenInput)

    def __init__(self, schema: ModelSchema, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.schema = schema
        for item in schema.inputs:
            self.fields[item.name] = _measurement_field(item) if item.is_number else _category_field(item)
        self.order_fields(schema.names)
        if not self.is_bound:
            self.initial["submission_key"] = answers.new_submission_key()

    clean_submission_key = PredictionForm.clean_submission_key

    def inputs(self) -> dict:
        """The cleaned inputs keyed by input name, as the service and the history expect them."""
        return {name: self.cleaned_data[name] for name in self.schema.names}


DAY_INPUT_ATTRS = {"placeholder": "YYYY-MM-DD", "inputmode": "numeric", "autocomplete": "off", "size": 10}


class HistoryFilterForm(forms.Form):
    """One model's results page: its filters, sort order and page cursor, all from the query string."""

    species = forms.ChoiceField(required=False)  # labelled and offered per model: see __init__
    version = forms.ModelChoiceField(
        # The animals model's versions unless the page is of another model (see __init__).
        queryset=ModelVersion.objects.filter(model__slug=ANIMALS_SLUG),
        to_field_name="version",
        required=False,
        label=_("Model version"),
        empty_label=_("All versions"),
        error_messages={"invalid_choice": _("There is no model version “%(value)s”.")},
    )
    # Plain text inputs that ask for what they accept: a browser's date input shows the format of
    # the browser's own locale (mm/dd/yyyy), which would contradict the message below.
    date_from = forms.DateField(
        required=False,
        label=_("From"),
        widget=forms.DateInput(attrs=DAY_INPUT_ATTRS, format="%Y-%m-%d"),
        error_messages={"invalid": _("Enter the first day as YYYY-MM-DD, such as 2026-11-30.")},
    )
    date_to = forms.DateField(
        required=False,
        label=_("To"),
        widget=forms.DateInput(attrs=DAY_INPUT_ATTRS, format="%Y-%m-%d"),
        error_messages={"invalid": _("Enter the last day as YYYY-MM-DD, such as 2026-11-30.")},
    )
    labelled = forms.TypedChoiceField(
        required=False,
        choices=[("", _("Labelled or not")), ("yes", _("Labelled")), ("no", _("Not labelled"))],
        coerce=lambda value: value == "yes",
        empty_value=None,
    )
    outside_range = forms.TypedChoiceField(
        required=False,
        label=_("Training range"),
        choices=[
            ("", _("Inside or outside")),
            ("yes", _("Outside the training range")),
            ("no", _("Inside the training range")),
        ],
        coerce=lambda value: value == "yes",
        empty_value=None,
    )
    sort = forms.ChoiceField(
        required=False,
        choices=[(choice, choice) for choice in SORT_CHOICES],
        error_messages={"invalid_choice": _("Cannot sort by “%(value)s”.")},
    )
    after = forms.CharField(required=False, widget=forms.HiddenInput)
    before = forms.CharField(required=False, widget=forms.HiddenInput)

    def __init__(
        self,
        *args,
        species: list[str],
        current: set[str] | None = None,
        model: MLModel | None = None,
        schema: ModelSchema = ANIMALS_SCHEMA,
        **kwargs,
    ) -> None:
        """``species``: the classes to offer, as from the model's versions' ``known_species()``.

        ``current``: those the active version and the candidate know (``current_species()``);
        the others, known only to rolled-back versions, are marked as such. ``model``: the model
        the page is of (None: the animals model); ``schema``: its inputs and words.
        """
        super().__init__(*args, **kwargs)
        self.model = model
        if model is not None:
            self.fields["version"].queryset = ModelVersion.objects.filter(model=model)
        target = str(schema.target_in_sentence)
        field = self.fields["species"]
        field.label = capfirst(schema.target_label)  # a heading, even where the CSV wrote "kind"
        field.choices = [("", _("Any"))] + [
            (
                name,
                selectors.class_name(model, schema, name)
                if current is None or name in current
                else gettext("%(species)s (rolled back)") % {"species": selectors.class_name(model, schema, name)},
            )
            for name in species
        ]
        # %(value)s is filled in by the field; the target now.
        field.error_messages["invalid_choice"] = gettext("No model predicts the %(target)s “%(value)s”.").replace(
            "%(target)s", target.replace("%", "%%")
        )
        self.fields["labelled"].label = gettext("Actual %(target)s") % {"target": target}
        # Inputs this model lacks (another model's "height") are no sort order of its page.
        sortable = selectors.input_sorts(schema)
        self.fields["sort"].choices = [
            (choice, choice)
            for choice in SORT_CHOICES
            if choice.removeprefix("-") not in INPUT_SORTS or choice.removeprefix("-") in sortable
        ]

    def clean(self) -> dict:
        cleaned = super().clean()
        earliest, latest = selectors.accepted_days()
        for name in ("date_from", "date_to"):
            day = cleaned.get(name)
            if day is not None and not earliest <= day <= latest:
                self.add_error(
                    name, gettext("Choose a day from %(first)s to %(last)s.") % {"first": earliest, "last": latest}
                )
        species, version = cleaned.get("species"), cleaned.get("version")
        if species and version and species not in version.classes:
            message = gettext("%(version)s does not predict %(species)s; it predicts %(known)s.")
            self.add_error(
                "species", message % {"version": version, "species": species, "known": one_of(version.classes)}
            )
        date_from, date_to = cleaned.get("date_from"), cleaned.get("date_to")
        if date_from and date_to and date_from > date_to:
            self.add_error("date_to", _("The last day must not be before the first day."))
        if cleaned.get("after") and cleaned.get("before"):
            raise ValidationError(_("Ask for the page after a row or before it, not both."))
        sort = cleaned.get("sort") or DEFAULT_SORT
        for name in ("after", "before"):
            if cleaned.get(name):
                try:
                    cleaned[f"{name}_cursor"] = selectors.decode_cursor(cleaned[name], sort)
                except ValueError:
                    message = gettext("“%(value)s” is not a page position; start again from the first page.")
                    self.add_error(name, message % {"value": cleaned[name]})
        return cleaned

    def query(self) -> HistoryQuery:
        """The validated filters; call after is_valid(). Days are days in the site's time zone."""
        data = self.cleaned_data
        date_from, date_to = data["date_from"], data["date_to"]
        return HistoryQuery(
            model=self.model or MLModel.objects.default(),
            species=data["species"],
            model_version=data["version"],
            since=selectors.start_of_day(date_from) if date_from else None,
            until=selectors.start_of_day(date_to + dt.timedelta(days=1)) if date_to else None,
            labelled=data["labelled"],
            outside_training_range=data["outside_range"],
            sort=data["sort"] or DEFAULT_SORT,
        )

    def days(self) -> tuple[dt.date | None, dt.date | None]:
        """The first and last day asked for, for the per-day chart."""
        return self.cleaned_data["date_from"], self.cleaned_data["date_to"]

    def cursors(self) -> dict:
        """``after``/``before`` as decoded cursors, for selectors.keyset_page."""
        return {"after": self.cleaned_data.get("after_cursor"), "before": self.cleaned_data.get("before_cursor")}


class BatchUploadForm(forms.Form):
    """A CSV of inputs to predict in one go, and the model to answer it; the file's content is checked by
    predictor.history.batch against that model's inputs."""

    # Any value reaches clean_model (not a ChoiceField): an unknown model is refused with the models that exist.
    model = forms.CharField(label=_("Model"), required=False, widget=forms.Select)
    file = forms.FileField(
        label=_("CSV file"),
        help_text=_("Any other columns are kept, unchanged, in the results."),
        error_messages={"required": _("Choose a CSV file to upload."), "empty": _("The file is empty.")},
        widget=forms.FileInput(attrs={"accept": ".csv,text/csv"}),
    )

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        # The animals model first, as everywhere, then every other model with a version to answer.
        served = MLModel.objects.exclude(slug=ANIMALS_SLUG).filter(versions__is_active=True).distinct()
        slugs = [ANIMALS_SLUG, *sorted(served.values_list("slug", flat=True))]
        asked = self.initial.get("model") or ANIMALS_SLUG  # a model the page was asked for, ready or not
        if asked not in slugs:
            slugs.append(asked)  # offered still, or the form would post the animals' model instead
        self.fields["model"].widget.choices = [(slug, slug) for slug in slugs]

    def clean_model(self) -> str:
        try:
            return batch.model_named(self.cleaned_data["model"]).slug
        except UnknownModel as unknown:
            raise ValidationError(str(unknown), code="unknown_model") from None

    def clean_file(self):
        upload = self.cleaned_data["file"]
        limit = settings.BATCH_UPLOAD_MAX_BYTES
        if upload.size > limit:
            message = gettext("The file is %(size).1f MB; at most %(limit).0f MB can be uploaded.")
            raise ValidationError(message % {"size": upload.size / 1e6, "limit": limit / 1e6}, code="too_large")
        return upload


class RetrainForm(forms.Form):
    """A retraining started from the models page: the data, the algorithm, and whether to override the gate."""

    SHIPPED, UPLOADED = "shipped", "upload"

    data = forms.ChoiceField(
        label=_("Training data"),
        choices=[(SHIPPED, _("The shipped data set (animals.csv)")), (UPLOADED, _("A CSV file I upload"))],
        initial=SHIPPED,
        widget=forms.RadioSelect,
    )
    file = forms.FileField(
        label=_("CSV file"),
        required=False,
        help_text=format_lazy(
            _("Columns {columns}; used only with “A CSV file I upload”."),
            columns=", ".join([*(feature.column for feature in FEATURES), TARGET_COLUMN]),
        ),
        widget=forms.FileInput(attrs={"accept": ".csv,text/csv"}),
    )
    algorithm = forms.ChoiceField(
        label=_("Algorithm"),
        choices=[(name, name) for name in training.ALGORITHMS],
        initial=training.DEFAULT_ALGORITHM,
    )
    include_feedback = forms.BooleanField(label=_("Also train on the predictions staff labelled"), required=False)
    force = forms.BooleanField(
        label=_("Activate it even if the gate refuses it: no better than guessing, or worse than the active version"),
        required=False,
    )
    new_class = forms.BooleanField(
        label=training.NEW_CLASS_CONFIRMATION,
        required=False,
    )

    def clean(self):
        cleaned = super().clean()
        upload = cleaned.get("file")
        if cleaned.get("data") == self.UPLOADED and not upload:
            self.add_error("file", _("Choose the CSV file to train on."))
        if upload and upload.size > settings.BATCH_UPLOAD_MAX_BYTES:
            message = gettext("The file is %(size).1f MB; at most %(limit).0f MB can be uploaded.")
            limit = settings.BATCH_UPLOAD_MAX_BYTES
            self.add_error("file", message % {"size": upload.size / 1e6, "limit": limit / 1e6})
        return cleaned


class LabelForm(forms.Form):
    """One click on the results page: the actual species of one prediction."""

    species = forms.ChoiceField()
    next = forms.CharField(required=False)

    def __init__(self, *args, species: list[str], **kwargs) -> None:
        """``species``: the names staff can record: the classes of the prediction's own version."""
        super().__init__(*args, **kwargs)
        field = self.fields["species"]
        field.choices = [(name, name) for name in species]
        names = one_of(species)
        field.error_messages = {
            "required": gettext("Choose the actual species: %(names)s.") % {"names": names},
            # %(value)s is filled in by the field; the names now.
            "invalid_choice": gettext("%(value)s is not a species staff can record; choose %(names)s.").replace(
                "%(names)s", names.replace("%", "%%")
            ),
        }


class CandidateForm(forms.Form):
    """The comparison page's buttons: run the version as a shadow or a canary, stop it, or promote it."""

    ACTIONS = ["shadow", "canary", "stop", "promote"]

    action = forms.ChoiceField(choices=[(action, action) for action in ACTIONS])
    percent = WholeNumberField(
        label=_("Share of predictions (%)"), min_value=1, max_value=100, initial=10, required=False
    )

    def clean(self):
        cleaned = super().clean()
        if cleaned.get("action") == "canary" and cleaned.get("percent") is None:
            self.add_error("percent", gettext("Give the canary a share from 1 to 100%."))
        return cleaned
