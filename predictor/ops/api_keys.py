"""API keys: created in admin, shown once, stored as a sha256, revocable, optionally expiring.

A key acts as the staff account that created it, with that account's permissions: it stops
working the moment its owner is deleted, deactivated or loses staff status.
"""

from datetime import timedelta

from django.contrib.auth.models import AbstractBaseUser
from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext

from predictor.models import ApiKey
from predictor.ops import audit

# Recording every use would turn each read into a write; once a minute is enough to see use.
LAST_USED_RESOLUTION = timedelta(minutes=1)


class KeyRefused(Exception):
    """A real key that no longer works; the message says why (the caller holds the secret already)."""


def create_key(*, name: str, created_by: AbstractBaseUser | None, expires_at=None) -> tuple[ApiKey, str]:
    """A new key and its secret, which is not stored and cannot be shown again."""
    api_key = ApiKey(name=name, expires_at=expires_at)
    return api_key, issue(api_key, created_by=created_by)


def issue(api_key: ApiKey, *, created_by: AbstractBaseUser | None) -> str:
    """Give an unsaved key its secret and its owner, save it, and return the secret."""
    secret = api_key.set_new_key()
    api_key.created_by = created_by
    with transaction.atomic():
        api_key.save()
        audit.record(
            action=audit.Action.API_KEY_CREATED,
            user=created_by,
            target=api_key,
            key_id=api_key.pk,
            expires_at=api_key.expires_at.isoformat() if api_key.expires_at else None,
        )
    return secret


def revoke(api_key: ApiKey, *, user: AbstractBaseUser | None) -> None:
    if api_key.revoked_at is not None:
        return
    with transaction.atomic():
        api_key.revoked_at = timezone.now()
        api_key.save(update_fields=["revoked_at"])
        audit.record(action=audit.Action.API_KEY_REVOKED, user=user, target=api_key, key_id=api_key.pk)


def owner(api_key: ApiKey) -> AbstractBaseUser | None:
    """The account a key acts as, while it may still act at all: active and staff."""
    user = api_key.created_by
    if user is None or not user.is_active or not user.is_staff:
        return None
    return user


def authenticate(secret: str) -> ApiKey | None:
    """The working key with this secret; None for an unknown one; KeyRefused for one that stopped working."""
    if not secret:
        return None
    api_key = ApiKey.objects.select_related("created_by").filter(key_sha256=ApiKey.hash(secret)).first()
    if api_key is None:
        return None
    if api_key.revoked_at is not None:
        raise KeyRefused(gettext("This API key was revoked; ask an operator for a new one."))
    if api_key.has_expired:
        raise KeyRefused(gettext("This API key expired; ask an operator for a new one."))
    if owner(api_key) is None:
        raise KeyRefused(
            gettext("The account that created this API key is no longer active staff; ask an operator for a new key.")
        )
    now = timezone.now()
    if api_key.last_used_at is None or now - api_key.last_used_at >= LAST_USED_RESOLUTION:
        ApiKey.objects.filter(pk=api_key.pk).update(last_used_at=now)
        api_key.last_used_at = now
    return api_key
