from django.contrib import admin, messages

from . import api_keys
from .exports import csv_response
from .models import ApiKey, ModelVersion, Prediction


class ReadOnlyAdmin(admin.ModelAdmin):
    """History is a record, not editable data: staff can look, not add, change or delete."""

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


class SpeciesFilter(admin.SimpleListFilter):
    """Species from the model versions' training data: no DISTINCT over the prediction table."""

    title = "predicted species"
    parameter_name = "species"

    def lookups(self, request, model_admin):
        species = set()
        for class_counts in ModelVersion.objects.values_list("class_counts", flat=True):
            species.update(class_counts)
        return [(label, label) for label in sorted(species)]

    def queryset(self, request, queryset):
        return queryset.filter(species=self.value()) if self.value() else queryset


@admin.register(Prediction)
class PredictionAdmin(ReadOnlyAdmin):
    list_display = ["created_at", "height_cm", "weight_kg", "species", "probability_display", "model_version", "source"]
    list_filter = [SpeciesFilter, "model_version", "created_at", "source"]
    list_select_related = ["model_version"]
    date_hierarchy = "created_at"
    # The stock date hierarchy scans the whole table for the dates that have rows (seconds at a
    # million rows); this one offers plain calendar links instead.
    date_hierarchy_drilldown = False
    sortable_by = ["created_at"]  # the ordering with an index
    search_fields = ["species", "=id"]
    search_help_text = "Search by species, or by prediction id."
    show_full_result_count = False  # no second COUNT(*) over the whole table on every page
    actions = ["export_csv"]
    fields = [
        "created_at",
        "height_cm",
        "weight_kg",
        "species",
        "probability",
        "probabilities",
        "model_version",
        "source",
        "batch_id",
    ]

    @admin.action(description="Export selected predictions as CSV", permissions=["view"])
    def export_csv(self, request, queryset):
        return csv_response(queryset.order_by("-created_at", "-id"))

    @admin.display(description="probability", ordering="probability")
    def probability_display(self, prediction: Prediction) -> str:
        return prediction.probability_percent


@admin.register(ModelVersion)
class ModelVersionAdmin(ReadOnlyAdmin):
    list_display = [
        "version",
        "is_active",
        "algorithm",
        "training_rows",
        "class_counts",
        "accuracy_percent",
        "cv_folds",
        "sklearn_version",
        "created_at",
    ]
    list_filter = ["is_active", "algorithm"]
    search_fields = ["=version", "artifact_name", "training_data_sha256"]
    date_hierarchy = "created_at"

    @admin.display(description="cross-validated accuracy", ordering="cv_accuracy")
    def accuracy_percent(self, version: ModelVersion) -> str:
        return f"{version.cv_accuracy:.1%}"


@admin.register(ApiKey)
class ApiKeyAdmin(admin.ModelAdmin):
    """Staff add a key by name and see its secret once; keys are revoked, never edited or deleted."""

    list_display = ["name", "prefix", "is_active", "created_by", "created_at", "last_used_at", "revoked_at"]
    list_filter = [("revoked_at", admin.EmptyFieldListFilter)]
    search_fields = ["name", "prefix"]
    readonly_fields = ["prefix", "created_by", "created_at", "last_used_at", "revoked_at"]
    actions = ["revoke_keys"]

    def get_fields(self, request, obj=None):
        return ["name"] if obj is None else ["name", *self.readonly_fields]

    def has_delete_permission(self, request, obj=None):
        return False  # revoking keeps the record of who had access

    @admin.display(boolean=True, description="active")
    def is_active(self, api_key: ApiKey) -> bool:
        return api_key.is_active

    def save_model(self, request, obj, form, change):
        if change:
            obj.save(update_fields=["name"])
            return
        secret = api_keys.issue(obj, created_by=request.user)
        messages.warning(
            request,
            f"The new API key is {secret} — copy it now: it is stored only as a hash and cannot be shown again.",
        )

    @admin.action(description="Revoke the selected API keys")
    def revoke_keys(self, request, queryset):
        for api_key in queryset.filter(revoked_at__isnull=True):
            api_keys.revoke(api_key)
        self.message_user(request, "Revoked. Programs using these keys are refused from now on.")
