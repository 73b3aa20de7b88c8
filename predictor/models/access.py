"""Who may do what, and how much: API keys, the audit trail, idempotent requests and limit counters."""

import datetime as dt
import hashlib
import secrets

from django.conf import settings
from django.db import models
from django.utils import timezone
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _


class ApiKey(models.Model):
    """A secret that lets a program read the history over the API; only its sha256 is stored."""

    PREFIX_LENGTH = 8

    name = models.CharField(
        _("name"), max_length=100, help_text=_("Who or what uses this key, for example “nightly report”.")
    )
    prefix = models.CharField(
        _("prefix"), max_length=PREFIX_LENGTH, editable=False, help_text=_("The key's first characters.")
    )
    # The key is 256 random bits, so a fast hash is enough: nobody can guess their way to it.
    key_sha256 = models.CharField(_("key sha256"), max_length=64, unique=True, editable=False)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name=_("created by"),
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        editable=False,
    )
    created_at = models.DateTimeField(_("created at"), default=timezone.now, editable=False)
    last_used_at = models.DateTimeField(_("last used at"), null=True, blank=True, editable=False)
    revoked_at = models.DateTimeField(_("revoked at"), null=True, blank=True, editable=False)
    expires_at = models.DateTimeField(
        _("expires at"), null=True, blank=True, help_text=_("Leave empty for a key that works until it is revoked.")
    )

    class Meta:
        ordering = ["-created_at", "-id"]
        verbose_name = _("API key")
        verbose_name_plural = _("API keys")

    def __str__(self) -> str:
        return f"{self.name} ({self.prefix}…)"

    @property
    def is_active(self) -> bool:
        return self.revoked_at is None and not self.has_expired

    @property
    def has_expired(self) -> bool:
        return self.expires_at is not None and self.expires_at <= timezone.now()

    @staticmethod
    def hash(key: str) -> str:
        return hashlib.sha256(key.encode()).hexdigest()

    def set_new_key(self) -> str:
        """Give this key a fresh secret and return it: the only time it can be seen."""
        key = secrets.token_urlsafe(32)
        self.prefix = key[: self.PREFIX_LENGTH]
        self.key_sha256 = self.hash(key)
        return key


class AuditEvent(models.Model):
    """One change staff (or the command line) made: written by the service that made it, never edited."""

    class Action(models.TextChoices):
        LABEL = "label", _("labelled predictions")
        ACTIVATE = "activate", _("activated a model version")
        RETRAIN = "retrain", _("trained a model version")
        API_KEY_CREATED = "api_key_created", _("created an API key")
        API_KEY_REVOKED = "api_key_revoked", _("revoked an API key")
        SHADOW_STARTED = "shadow_started", _("started a shadow")
        CANARY_STARTED = "canary_started", _("started a canary")
        CANDIDATE_STOPPED = "candidate_stopped", _("stopped a shadow or canary")

    created_at = models.DateTimeField(_("when"), default=timezone.now, db_index=True)
    # NULL for the command line, and once the account is deleted: `username` keeps the name.
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name=_("who"),
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
    )
    username = models.CharField(_("username"), max_length=150, blank=True)
    action = models.CharField(_("what"), max_length=20, choices=Action.choices)
    target = models.CharField(_("which"), max_length=200, blank=True)
    details = models.JSONField(_("details"), default=dict, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        verbose_name = _("audit event")
        verbose_name_plural = _("audit events")

    def __str__(self) -> str:
        return f"{self.created_at:%Y-%m-%d %H:%M} {self.who}: {self.get_action_display()} {self.target}".rstrip()

    @property
    def who(self) -> str:
        return self.username or gettext("command line")


class IdempotentRequestQuerySet(models.QuerySet):
    def expired(self, now: dt.datetime | None = None) -> "IdempotentRequestQuerySet":
        return self.filter(expires_at__lte=now or timezone.now())


class IdempotentRequest(models.Model):
    """An API write sent with an Idempotency-Key, and its answer, replayed to a retry (predictor.ops.idempotency)."""

    scope = models.CharField(_("scope"), max_length=64, help_text=_("sha256 of the API key or client address."))
    key = models.CharField(_("idempotency key"), max_length=255)
    request_sha256 = models.CharField(_("request sha256"), max_length=64)
    status = models.PositiveSmallIntegerField(_("status"))
    response = models.TextField(_("response"))
    created_at = models.DateTimeField(_("created at"), default=timezone.now)
    expires_at = models.DateTimeField(_("expires at"), db_index=True)

    objects = IdempotentRequestQuerySet.as_manager()

    class Meta:
        ordering = ["-created_at"]
        verbose_name = _("idempotent request")
        verbose_name_plural = _("idempotent requests")
        constraints = [models.UniqueConstraint(fields=["scope", "key"], name="idempotency_key_once_per_scope")]

    def __str__(self) -> str:
        return self.key


class LimitCounter(models.Model):
    """One client's count against one limit in one window (predictor.ops.counters), when no Redis holds them.

    The key names the window, so a counter only ever grows until it expires and is deleted.
    """

    key = models.CharField(_("key"), max_length=255, primary_key=True)
    count = models.BigIntegerField(_("count"))
    expires_at = models.DateTimeField(_("expires at"), db_index=True)

    class Meta:
        verbose_name = _("rate-limit counter")
        verbose_name_plural = _("rate-limit counters")

    def __str__(self) -> str:
        return f"{self.key}: {self.count}"
