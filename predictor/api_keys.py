"""API keys: created in admin, shown once, stored as a sha256, revocable."""

from datetime import timedelta

from django.contrib.auth.models import AbstractBaseUser
from django.utils import timezone

from .models import ApiKey

# Recording every use would turn each read into a write; once a minute is enough to see use.
LAST_USED_RESOLUTION = timedelta(minutes=1)


def create_key(*, name: str, created_by: AbstractBaseUser | None) -> tuple[ApiKey, str]:
    """A new usable key and its secret, which is not stored and cannot be shown again."""
    api_key = ApiKey(name=name)
    return api_key, issue(api_key, created_by=created_by)


def issue(api_key: ApiKey, *, created_by: AbstractBaseUser | None) -> str:
    """Give an unsaved key its secret, save it, and return the secret."""
    secret = api_key.set_new_key()
    api_key.created_by = created_by
    api_key.save()
    return secret


def revoke(api_key: ApiKey) -> None:
    if api_key.revoked_at is None:
        api_key.revoked_at = timezone.now()
        api_key.save(update_fields=["revoked_at"])


def authenticate(secret: str) -> ApiKey | None:
    """The usable key with this secret, or None."""
    if not secret:
        return None
    api_key = ApiKey.objects.usable().filter(key_sha256=ApiKey.hash(secret)).first()
    if api_key is None:
        return None
    now = timezone.now()
    if api_key.last_used_at is None or now - api_key.last_used_at >= LAST_USED_RESOLUTION:
        ApiKey.objects.filter(pk=api_key.pk).update(last_used_at=now)
        api_key.last_used_at = now
    return api_key
