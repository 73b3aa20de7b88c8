import calendar
import datetime as dt

from django import forms
from django.contrib import admin, messages
from django.db.models import Q, QuerySet
from django.template.loader import render_to_string
from django.template.response import TemplateResponse
from django.urls import reverse
from django.utils import timezone
from django.utils.cache import add_never_cache_headers
from django.utils.html import format_html
from django.utils.text import format_lazy
from django.utils.translation import gettext, ngettext
from django.utils.translation import gettext_lazy as _

from predictor import jobs
from predictor.history import feedback, selectors
from predictor.history.exports import csv_response
from predictor.history.pagination import CappedCountPaginator
from predictor.models import ApiKey, AuditEvent, Candidate, Job, MLModel, ModelVersion, Prediction, number_input
from predictor.ops import api_keys, permissions
from predictor.registry import model_metrics, versions
from predictor.schema.features import ANIMALS_SLUG, FEATURES
from predictor.serving import candidates


class DataBoundedDateHierarchy:
    """The admin's date links offer only the years, months and days between the first and last row.

    django-admin-lightweight-date-hierarchy skips the stock hierarchy's scan of the whole table
    for the dates that have rows, and by default offers three years either side of today; the
    first and last row, each read through the time index, bound it to the data instead.
    """

    date_hierarchy_drilldown = False

    def get_date_hierarchy_drilldown(self, year_lookup, month_lookup):
        times = self.model._default_manager.order_by(self.date_hierarchy).values_list(self.date_hierarchy, flat=True)
        first, last = times.first(), times.last()
        if first is None:
            return []
        first, last = timezone.localtime(first).date(), timezone.localtime(last).date()
        if year_lookup is None:
            return [dt.date(year, 1, 1) for year in range(first.year, last.year + 1)]
        year = int(year_lookup)
        if month_lookup is None:
            months = [dt.date(year, month, 1) for month in range(1, 13)]
            return [day for day in months if (first.year, first.month) <= (year, day.month) <= (last.year, last.month)]
        month = int(month_lookup)
        days = [dt.date(year, month, day) for day in range(1, calendar.monthrange(year, month)[1] + 1)]
        return [day for day in days if first <= day <= last]


class ReadOnlyAdmin(admin.ModelAdmin):
    """History is a record, not editable data: staff can look, not add, change or delete."""

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


def _listed_versions(request) -> QuerySet[ModelVersion]:
    """The versions whose predictions the list shows: those of the model filtered by, else all."""
    versions = ModelVersion.objects.all()
    if chosen := request.GET.get("model__id__exact"):
        versions = versions.filter(model_id=chosen) if chosen.isascii() and chosen.isdigit() else versions.none()
    return versions


class SpeciesFilter(admin.SimpleListFilter):
    """Classes from the model versions' training data: no DISTINCT over the prediction table."""

    title = _("predicted class")
    parameter_name = "species"

    def __init__(self, request, params, model, model_admin):
        super().__init__(request, params, model, model_admin)
        # In the listed model's words: "predicted species" for the animals, "predicted class" for several models.
        self.title = format_lazy(_("predicted {target}"), target=_listed_versions(request).target_word())

    def lookups(self, request, model_admin):
        return [(label, label) for label in ModelVersion.objects.known_species()]

    def queryset(self, request, queryset):
        return queryset.filter(species=self.value()) if self.value() else queryset


class ActualSpeciesFilter(admin.SimpleListFilter):
    """The label staff gave, or none yet; the same URL parameters as Django's choices filter."""

    title = _("actual class")
    parameter_name = "actual_species__exact"
    NOT_LABELLED = "__none__"

    def __init__(self, request, params, model, model_admin):
        super().__init__(request, params, model, model_admin)
        self.title = format_lazy(_("actual {target}"), target=_listed_versions(request).target_word())

    def lookups(self, request, model_admin):
        known = [(label, label) for label in ModelVersion.objects.known_species()]
        return [*known, (self.NOT_LABELLED, _("not labelled"))]

    def queryset(self, request, queryset):
        if self.value() == self.NOT_LABELLED:
            return queryset.filter(actual_species__isnull=True)
        return queryset.filter(actual_species=self.value()) if self.value() else queryset


def _label_action(species: str, target: str):
    description = format_lazy(_("actual {target}: {species}"), target=target, species=species)

    @admin.action(permissions=["change"], description=description)
    def label(modeladmin, request, queryset):
        try:
            count = feedback.label_predictions(prediction_ids=queryset.values("pk"), species=species, user=request.user)
        except feedback.FeedbackError as error:  # a selected row's version does not know the species
            modeladmin.message_user(request, str(error), level=messages.ERROR)
            return
        message = ngettext(
            "Recorded %(species)s as the actual %(target)s of %(count)d prediction.",
            "Recorded %(species)s as the actual %(target)s of %(count)d predictions.",
            count,
        )
        modeladmin.message_user(request, message % {"species": species, "target": target, "count": count})

    return label, f"label_{species.lower()}", label.short_description


def _measurement_column(feature):
    """An admin column showing a measurement as the pages do (Feature.display: 42.5, not 42.50)."""

    @admin.display(description=feature.label_with_unit, ordering=number_input(feature.name))
    def column(modeladmin, prediction: Prediction) -> str:
        value = prediction.inputs.get(feature.name)
        return "—" if value is None else feature.display(value)

    return column


MEASUREMENT_COLUMNS = {f"{feature.field}_display": _measurement_column(feature) for feature in FEATURES}


def _class_column(field: str, heading):
    """A list column showing a class field under a heading in the listed model's words."""

    @admin.display(description=heading, empty_value="-")
    def column(prediction: Prediction) -> str | None:
        return getattr(prediction, field)

    column.__name__ = field  # the cells' class, field-species, as for the field itself
    return column


@admin.register(Prediction)
class PredictionAdmin(DataBoundedDateHierarchy, admin.ModelAdmin):
    """A record: only the actual species (feedback) can be changed; inputs and outputs stay as they were."""

    list_display = [
        "created_at",
        "model",
        *MEASUREMENT_COLUMNS,
        "inputs_display",
        "species",
        "probability_display",
        "model_version",
        "source",
        "actual_species",
    ]
    list_filter = [
        "model",
        SpeciesFilter,
        ActualSpeciesFilter,
        "model_version",
        "created_at",
        "source",
        "outside_training_range",
    ]
    list_select_related = ["model_version", "model"]
    date_hierarchy = "created_at"
    sortable_by = ["created_at"]  # the ordering with an index
    search_fields = ["species", "=id"]  # shows the search box; get_search_results does the search
    show_full_result_count = False  # no second COUNT(*) over the whole table on every page
    paginator = CappedCountPaginator  # counts stop at 10,000 unless quick; deep pages read ids first
    show_facets = admin.ShowFacets.NEVER  # a count per filter choice reads the table once per choice
    actions = ["export_csv"]
    fields = [
        "created_at",
        "model",
        "inputs_display",
        *MEASUREMENT_COLUMNS,
        "species",
        "probability_display",
        "probabilities_display",
        "model_version",
        "source",
        "batch_id",
        "outside_training_range",
        "actual_species",
        "labelled_by",
        "labelled_at",
        # The other version's answer while a shadow or canary ran (predictor.serving.candidates).
        "shadow_version",
        "shadow_species",
        "shadow_probability",
    ]
    readonly_fields = [field for field in fields if field != "actual_species"]

    def has_add_permission(self, request):
        return False

    def has_delete_permission(self, request, obj=None):
        return False

    def get_list_display(self, request):
        # The words of the model listed: "predicted species" for the animals, "predicted kind" for iris,
        # "predicted class" for rows of several models; the animals' own columns only where only they are listed.
        versions = _listed_versions(request)
        target = versions.target_word()
        only_animals = set(versions.values_list("model__slug", flat=True)) <= {ANIMALS_SLUG}
        columns = {
            "species": _class_column("species", format_lazy(_("predicted {target}"), target=target)),
            "actual_species": _class_column("actual_species", format_lazy(_("actual {target}"), target=target)),
        }
        return [
            columns.get(name, name) for name in self.list_display if only_animals or name not in MEASUREMENT_COLUMNS
        ]

    def get_changelist_instance(self, request):
        changelist = super().get_changelist_instance(request)
        target = _listed_versions(request).target_word()
        changelist.search_help_text = format_lazy(
            _("Search by predicted {target} (any case) or by prediction id."), target=target
        )
        return changelist

    def formfield_for_dbfield(self, db_field, request, **kwargs):
        if db_field.name == "actual_species":  # the species the versions know, not free text
            known = [(name, name) for name in ModelVersion.objects.known_species()]
            return forms.ChoiceField(choices=[("", _("not labelled")), *known], required=False, label=_("actual class"))
        return super().formfield_for_dbfield(db_field, request, **kwargs)

    def get_actions(self, request):
        # One labelling action per class the trained versions know (classes are data, not code).
        actions = super().get_actions(request)
        if self.has_change_permission(request):
            for species, target in sorted(ModelVersion.objects.target_words().items()):
                action = _label_action(species, target)
                actions[action[1]] = action
        return actions

    def get_search_results(self, request, queryset, search_term):
        # A species name (any case) or an id, each found through an index. Django's default, a
        # substring match on species, reads the whole table at a million rows (half a second).
        term = search_term.strip()
        if not term:
            return queryset, False
        matches = Q()
        species = {name.lower(): name for name in ModelVersion.objects.known_species()}
        if term.lower() in species:
            matches |= Q(species=species[term.lower()])
        # ASCII digits only ("²" and "٣" are digits to str.isdigit, not to int), and no id past the
        # database's bigint (a longer number matches nothing rather than overflowing).
        if term.isascii() and term.isdigit() and int(term) < 2**63:
            matches |= Q(pk=int(term))
        return (queryset.filter(matches) if matches else queryset.none()), False

    def get_form(self, request, obj=None, change=False, **kwargs):
        form = super().get_form(request, obj, change=change, **kwargs)
        if obj is not None and "actual_species" in form.base_fields:
            # Its own version's classes: a class only a rolled-back version knew is no label for it.
            field = form.base_fields["actual_species"]
            field.choices = [("", _("not labelled")), *((name, name) for name in obj.model_version.classes)]
        return form

    def save_model(self, request, obj, form, change):
        # Through the feedback service, so who labelled it and when are recorded with the label.
        if "actual_species" in form.changed_data:
            feedback.label_predictions(prediction_ids=[obj.pk], species=obj.actual_species or None, user=request.user)

    @admin.action(description=_("Export selected predictions as CSV"), permissions=["view"])
    def export_csv(self, request, queryset):
        return csv_response(queryset.in_order())

    @admin.display(description=_("inputs"))
    def inputs_display(self, prediction: Prediction) -> str:
        """Every input of the row's own model, as in a sentence: "colour red, weight 120 g"."""
        return prediction.measurements_text

    @admin.display(description=_("probability"), ordering="probability")
    def probability_display(self, prediction: Prediction) -> str:
        return prediction.probability_percent

    @admin.display(description=_("probability of every class"))
    def probabilities_display(self, prediction: Prediction) -> str:
        return gettext(", ").join(f"{label} {text}" for label, text, _width in prediction.sorted_probabilities)


# The measurement columns, as methods the admin finds by name.
for _name, _column in MEASUREMENT_COLUMNS.items():
    setattr(PredictionAdmin, _name, _column)


@admin.register(ModelVersion)
class ModelVersionAdmin(DataBoundedDateHierarchy, ReadOnlyAdmin):
    list_display = [
        "version",
        "model",
        "is_active",
        "candidate_display",
        "algorithm",
        "training_rows",
        "rows_from_feedback",
        "class_counts_display",
        "accuracy_percent",
        "prediction_count",
        "labelled_count",
        "live_accuracy_display",
        "cv_folds",
        "sklearn_version",
        "created_at",
    ]
    list_filter = ["model", "is_active", "algorithm"]
    search_fields = ["=version", "artifact_name", "training_data_sha256"]
    date_hierarchy = "created_at"
    actions = ["activate", "start_shadow", "stop_candidate", "promote_candidate"]
    list_select_related = ["candidacy", "model"]
    fieldsets = [
        (
            None,
            {
                "fields": [
                    "model",
                    "version",
                    "is_active",
                    "algorithm",
                    "parameters_display",
                    "created_at",
                    "model_page",
                ]
            },
        ),
        (
            _("Training data"),
            {
                "fields": [
                    "training_data_name",
                    "training_data_sha256",
                    "training_rows",
                    "rows_from_csv",
                    "rows_from_feedback",
                    "feedback_sha256",
                    "class_counts_display",
                    "training_ranges",
                ]
            },
        ),
        (
            _("Evaluation"),
            {
                "fields": [
                    "accuracy_percent",
                    "cv_folds",
                    "chance_accuracy_percent",
                    "baseline_version",
                    "baseline_accuracy_percent",
                    "live_metrics",
                ]
            },
        ),
        (_("Training picture"), {"fields": ["picture"]}),
        (_("Artifact"), {"fields": ["artifact_name", "artifact_sha256", "sklearn_version", "picture_name"]}),
    ]
    readonly_fields = [
        "parameters_display",
        "class_counts_display",
        "training_ranges",
        "accuracy_percent",
        "chance_accuracy_percent",
        "baseline_accuracy_percent",
        "model_page",
        "live_metrics",
        "picture",
    ]

    def get_queryset(self, request):
        return selectors.with_live_counts(super().get_queryset(request))

    def get_list_display(self, request):
        # The model column only where there is more than one model to tell apart.
        if MLModel.objects.count() > 1:
            return self.list_display
        return [name for name in self.list_display if name != "model"]

    def has_activate_permission(self, request) -> bool:
        return permissions.allows(request.user, permissions.ACTIVATE_VERSIONS)

    @admin.action(permissions=["activate"], description=_("Make the selected version active (roll back or forward)"))
    def activate(self, request, queryset):
        if queryset.count() != 1:
            self.message_user(request, gettext("Select exactly one version to make active."), messages.ERROR)
            return
        chosen = queryset.get()
        version = versions.activate_version(chosen.version, model=chosen.model, user=request.user)
        message = gettext("Model %(version)s is now active; running servers serve it within a second.")
        self.message_user(request, message % {"version": version})

    @admin.action(permissions=["activate"], description=_("Run the selected version as a shadow"))
    def start_shadow(self, request, queryset):
        if queryset.count() != 1:
            self.message_user(request, gettext("Select exactly one version to run as a shadow."), messages.ERROR)
            return
        chosen = queryset.get()
        message = gettext("%(version)s now scores every prediction as a shadow.")
        self._change_candidate(
            request, message, lambda: candidates.start_shadow(chosen.version, model=chosen.model, user=request.user)
        )

    # Stopping and promoting mean the candidate of the selected version's model (one candidate per model).
    @admin.action(permissions=["activate"], description=_("Stop the shadow or canary"))
    def stop_candidate(self, request, queryset):
        model = queryset.first().model
        message = gettext("%(version)s is no longer tried; its stored answers stay for the comparison.")
        self._change_candidate(request, message, lambda: candidates.stop(model=model, user=request.user).version)

    @admin.action(permissions=["activate"], description=_("Make the shadow or canary active (promote)"))
    def promote_candidate(self, request, queryset):
        model = queryset.first().model
        message = gettext("Model %(version)s is now active; running servers serve it within a second.")
        self._change_candidate(request, message, lambda: candidates.promote(model=model, user=request.user))

    def _change_candidate(self, request, message: str, change) -> None:
        """Run a change of candidacy (predictor.serving.candidates) and say what became of which version."""
        try:
            changed = change()
        except candidates.CandidateError as error:
            self.message_user(request, str(error), messages.ERROR)
            return
        version = changed.version if isinstance(changed, Candidate) else changed
        self.message_user(request, message % {"version": version})

    @admin.display(description=_("candidate"))
    def candidate_display(self, version: ModelVersion) -> str:
        candidacy = getattr(version, "candidacy", None)
        return str(candidacy).removeprefix(f"{version} ") if candidacy else ""

    @admin.display(description=_("cross-validated accuracy"), ordering="cv_accuracy")
    def accuracy_percent(self, version: ModelVersion) -> str:
        return version.cv_accuracy_summary

    @admin.display(description=_("majority-class guess on the same rows"))
    def chance_accuracy_percent(self, version: ModelVersion) -> str:
        return version.chance_cv_accuracy_percent

    @admin.display(description=_("its accuracy on the same rows"))
    def baseline_accuracy_percent(self, version: ModelVersion) -> str:
        return version.baseline_cv_accuracy_percent

    @admin.display(description=_("parameters"))
    def parameters_display(self, version: ModelVersion) -> str:
        return ", ".join(f"{name}={value}" for name, value in sorted(version.parameters.items())) or "—"

    @admin.display(description=_("rows per class"))
    def class_counts_display(self, version: ModelVersion) -> str:
        return gettext(", ").join(f"{species} {rows:,}" for species, rows in sorted(version.class_counts.items()))

    @admin.display(description=_("training range"))
    def training_ranges(self, version: ModelVersion) -> str:
        ranges = []
        for feature in version.input_schema.inputs:
            if known := version.training_range(feature):
                low, high = (feature.display(value) for value in known)
                ranges.append(f"{feature.label} {low}–{high} {feature.unit}")
        return gettext("; ").join(ranges) or gettext("not recorded for this version")

    @admin.display(description=_("predictions"), ordering="prediction_count")
    def prediction_count(self, version: ModelVersion) -> int:
        return version.prediction_count

    @admin.display(description=_("labelled"), ordering="labelled_count")
    def labelled_count(self, version: ModelVersion) -> int:
        return version.labelled_count

    @admin.display(description=_("live accuracy"))
    def live_accuracy_display(self, version: ModelVersion) -> str:
        return version.live_accuracy_percent

    @admin.display(description=_("model page"))
    def model_page(self, version: ModelVersion) -> str:
        url = reverse("predictor:model_detail", args=version.url_args)
        return format_html('<a href="{}">{}</a>', url, url)

    @admin.display(description=_("live accuracy and drift"))
    def live_metrics(self, version: ModelVersion) -> str:
        metrics = model_metrics.version_metrics(version)
        return render_to_string("predictor/_model_metrics.html", {"metrics": metrics})  # escaped by the template

    @admin.display(description=_("picture"))
    def picture(self, version: ModelVersion) -> str:
        if not version.picture_name:
            return gettext("No picture was drawn for this version.")
        return render_to_string("predictor/_training_picture.html", {"version": version})


@admin.register(ApiKey)
class ApiKeyAdmin(admin.ModelAdmin):
    """Staff add a key by name and see its secret once; keys are revoked, never deleted.

    A key acts as the account that created it ("created by"), with that account's permissions.
    """

    list_display = [
        "name",
        "prefix",
        "is_active",
        "created_by",
        "created_at",
        "expires_at",
        "last_used_at",
        "revoked_at",
    ]
    list_filter = [("revoked_at", admin.EmptyFieldListFilter), ("expires_at", admin.EmptyFieldListFilter)]
    search_fields = ["name", "prefix"]
    readonly_fields = ["prefix", "created_by", "created_at", "last_used_at", "revoked_at"]
    actions = ["revoke_keys"]

    def get_fields(self, request, obj=None):
        return ["name", "expires_at"] if obj is None else ["name", "expires_at", *self.readonly_fields]

    def has_delete_permission(self, request, obj=None):
        return False  # revoking keeps the record of who had access

    @admin.display(boolean=True, description=_("active"))
    def is_active(self, api_key: ApiKey) -> bool:
        return api_key.is_active

    def save_model(self, request, obj, form, change):
        if change:
            obj.save(update_fields=form.changed_data)
            return
        # Kept on this request only: the page answering this POST shows it (response_add), never a cookie.
        request.new_api_key_secret = api_keys.issue(obj, created_by=request.user)

    def response_add(self, request, obj, post_url_continue=None):
        context = {
            **self.admin_site.each_context(request),
            "opts": self.opts,
            "api_key": obj,
            "secret": request.new_api_key_secret,
            "title": gettext("API key created"),
        }
        response = TemplateResponse(request, "admin/predictor/apikey/key_created.html", context)
        add_never_cache_headers(response)  # no-store: no cache or back button keeps the secret
        return response

    @admin.action(permissions=["change"], description=_("Revoke the selected API keys"))
    def revoke_keys(self, request, queryset):
        for api_key in queryset.filter(revoked_at__isnull=True):
            api_keys.revoke(api_key, user=request.user)
        self.message_user(request, gettext("Revoked. Programs using these keys are refused from now on."))


@admin.register(AuditEvent)
class AuditEventAdmin(ReadOnlyAdmin):
    """The audit trail: operators read it; nobody adds, changes or deletes a row."""

    list_display = ["created_at", "who", "action", "target"]
    list_filter = ["action"]
    search_fields = ["username", "target"]
    date_hierarchy = "created_at"
    fields = ["created_at", "who", "user", "action", "target", "details"]
    readonly_fields = fields
    actions = []

    @admin.display(description=_("who"), ordering="username")
    def who(self, event: AuditEvent) -> str:
        return event.who


@admin.register(Job)
class JobAdmin(ReadOnlyAdmin):
    """Background jobs, to look at: each staff member sees the kinds their job pages show them.

    Operators see every job (they may see both the history and the models); a viewer sees the
    batch uploads and the retrainings too, as on /jobs/<id>/ (predictor.jobs.kinds_visible_to).
    """

    list_display = ["kind", "status", "progress", "created_by", "created_at", "job_page"]
    list_filter = ["kind", "status"]
    search_fields = ["=id", "created_by__username"]
    date_hierarchy = "created_at"
    list_select_related = ["created_by"]
    fields = [
        "id",
        "kind",
        "status",
        "progress",
        "created_by",
        "created_at",
        "started_at",
        "finished_at",
        "attempts",
        "lease_expires_at",
        "arguments",
        "outcome",
        "error",
        "task_id",
        "job_page",
    ]
    readonly_fields = fields
    actions = []

    def get_queryset(self, request):
        return super().get_queryset(request).filter(kind__in=jobs.kinds_visible_to(request.user))

    def has_view_permission(self, request, obj=None):
        if obj is not None:
            return jobs.visible_to(obj, request.user)
        return bool(jobs.kinds_visible_to(request.user))

    def has_module_permission(self, request):
        return self.has_view_permission(request)

    @admin.display(description=_("progress"))
    def progress(self, job: Job) -> str:
        if not job.progress_total:
            return gettext("%(done)s done") % {"done": f"{job.progress_done:,}"}
        return gettext("%(done)s of %(total)s (%(percent)s%%)") % {
            "done": f"{job.progress_done:,}",
            "total": f"{job.progress_total:,}",
            "percent": job.percent,
        }

    @admin.display(description=_("page"))
    def job_page(self, job: Job) -> str:
        return format_html(
            '<a href="{}">{}</a>', reverse("predictor:job", args=[job.pk]), gettext("Open the job's page")
        )
