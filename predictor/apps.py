from axes import apps as axes_apps
from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _
from django.utils.translation import gettext_noop, ngettext_lazy, pgettext_lazy
from django_tasks_db import apps as tasks_db_apps


class PredictorConfig(AppConfig):
    name = "predictor"
    # The app's name in the admin: "Predictions" without a context is the count of them (预测数).
    verbose_name = pgettext_lazy("app name", "Predictions")

    def ready(self) -> None:
        # Imported once the models are: the job kinds register themselves with predictor.jobs
        # (batch uploads, retraining), the model service connects its setting_changed receiver,
        # and the jobs' counts join /metrics. Every process (web, worker, command) needs all three.
        from predictor.history import batch  # noqa: F401
        from predictor.jobs import collector
        from predictor.ops import metrics
        from predictor.registry import training  # noqa: F401
        from predictor.serving import model_service  # noqa: F401

        metrics.register_scrape_collector(collector.JobsCollector())


# The third-party apps our admin shows, under names in the visitor's language (settings'
# INSTALLED_APPS names these configs): django-axes names its app by its label, and django-tasks'
# database backend in an untranslated string. default = False: Django keeps PredictorConfig as
# this app's own.
class AxesConfig(axes_apps.AppConfig):
    default = False
    verbose_name = _("Log-in attempts (django-axes)")


class TasksDatabaseConfig(tasks_db_apps.TasksAppConfig):
    default = False
    verbose_name = _("Task queue (django-tasks)")


# Words the admin shows from django-axes, django-tasks and Django itself that their own catalogues
# leave in English in Simplified Chinese. Marked here, exactly as those packages write them, so
# that `make messages` collects them and Django finds them in our catalogue (LOCALE_PATHS comes
# before the apps' own).
THIRD_PARTY_MESSAGES = (
    # django-axes (axes/models.py, axes/admin.py)
    gettext_noop("access attempt"),
    gettext_noop("access attempts"),
    gettext_noop("access failure"),
    gettext_noop("access failures"),
    gettext_noop("access log"),
    gettext_noop("access logs"),
    gettext_noop("access attempt expiration"),
    gettext_noop("access attempt expirations"),
    gettext_noop("Access Attempt"),
    gettext_noop("Access lock out"),
    gettext_noop("User Agent"),
    gettext_noop("IP Address"),
    gettext_noop("Username"),
    gettext_noop("HTTP Accept"),
    gettext_noop("Path"),
    gettext_noop("Attempt Time"),
    gettext_noop("GET Data"),
    gettext_noop("POST Data"),
    gettext_noop("Failed Logins"),
    gettext_noop("Expires At"),
    gettext_noop("The time when access attempt expires and is no longer valid."),
    gettext_noop("Logout Time"),
    gettext_noop("Session key hash (sha256)"),
    gettext_noop("Locked Out"),
    gettext_noop("Yes"),
    gettext_noop("No"),
    gettext_noop("Form Data"),
    gettext_noop("Meta Data"),
    gettext_noop("Clean up expired attempts"),
    gettext_noop("Not set"),
    gettext_noop("Attempt Remaining"),
    # django-tasks' database backend (django_tasks_db/models.py)
    gettext_noop("Task Result"),
    gettext_noop("Task Results"),
    gettext_noop("enqueued at"),
    gettext_noop("args kwargs"),
    gettext_noop("priority"),
    gettext_noop("task path"),
    gettext_noop("worker id"),
    gettext_noop("queue name"),
    gettext_noop("backend name"),
    gettext_noop("run after"),
    gettext_noop("return value"),
    gettext_noop("exception class path"),
    gettext_noop("traceback"),
    # Django's admin: a table heading for screen readers (admin/app_list.html), and a changelist's
    # count, which Django's Chinese ends with 。 before "(Show all)" (admin/search_form.html)
    gettext_noop("Change or view list link"),
    ngettext_lazy("%(counter)s result", "%(counter)s results"),
)
