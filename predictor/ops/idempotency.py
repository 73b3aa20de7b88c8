"""Idempotency-Key for API writes: a retried request is answered once, stored once.

A client that saw no answer (a dropped connection, a killed worker) cannot know whether its
prediction was stored; sending the same Idempotency-Key again makes the retry safe. The request
runs in one transaction with the record of its answer, so either both are stored or neither is:
a worker killed half-way leaves nothing behind, and a retry runs afresh. A second request with
the key, arriving while the first is running, waits for it (PostgreSQL: on the unique key,
claimed before the request runs; SQLite: on the write lock) and then gets its answer. Only successful answers are
kept; an error is not, so the retry is tried again.
"""

import hashlib
from collections.abc import Callable
from datetime import timedelta

from django.conf import settings
from django.db import IntegrityError, transaction
from django.http import HttpRequest, HttpResponse
from django.utils import timezone

from predictor.models import ApiKey, IdempotentRequest
from predictor.ops.client import client_ip

HEADER = "Idempotency-Key"
MAX_KEY_LENGTH = 255
REPLAYED_HEADER = "Idempotent-Replayed"


class KeyReused(Exception):
    """The key was already used with another request body."""


def is_valid_key(key: str) -> bool:
    return 0 < len(key) <= MAX_KEY_LENGTH and key.isascii() and key.isprintable()


def scope(request: HttpRequest) -> str:
    """Whose keys these are: the API key sent, else the client's address (hashed, as stored)."""
    secret = request.headers.get("X-API-Key", "")
    bearer = request.headers.get("Authorization", "")
    if bearer[:7].lower() == "bearer ":
        secret = bearer[7:].strip()
    owner = f"key:{ApiKey.hash(secret)}" if secret else f"address:{client_ip(request)}"
    return hashlib.sha256(owner.encode()).hexdigest()


def answer_once(*, request: HttpRequest, key: str, operation: str, run: Callable[[], HttpResponse]) -> HttpResponse:
    """``run()``'s answer, or the one stored for this key and scope; raise KeyReused for another body."""
    owner = scope(request)
    fingerprint = hashlib.sha256(operation.encode() + b"\0" + request.body).hexdigest()
    clear_expired()
    with transaction.atomic():
        stored = IdempotentRequest.objects.filter(scope=owner, key=key).first()
        if stored is not None:
            return _replay(stored, fingerprint)
        # Claimed before running: a duplicate's insert waits here until this transaction ends.
        claim = IdempotentRequest(scope=owner, key=key, request_sha256=fingerprint, status=0, response="")
        claim.expires_at = timezone.now() + timedelta(hours=settings.IDEMPOTENCY_KEY_HOURS)
        try:
            with transaction.atomic():
                claim.save()
        except IntegrityError:
            transaction.set_rollback(True)  # the same key's first request finished meanwhile
        else:
            response = run()
            if not 200 <= response.status_code < 300:
                transaction.set_rollback(True)  # nothing half-done stays; the retry runs afresh
                return response
            claim.status, claim.response = response.status_code, response.content.decode()
            claim.save(update_fields=["status", "response"])
            return response
    return _replay(IdempotentRequest.objects.get(scope=owner, key=key), fingerprint)


def clear_expired() -> int:
    """Forget the keys past their time; the number forgotten."""
    deleted, _ = IdempotentRequest.objects.expired().delete()
    return deleted


def _replay(stored: IdempotentRequest, fingerprint: str) -> HttpResponse:
    if stored.request_sha256 != fingerprint:
        raise KeyReused(stored.key)
    response = HttpResponse(stored.response, status=stored.status, content_type="application/json; charset=utf-8")
    response[REPLAYED_HEADER] = "true"
    return response
