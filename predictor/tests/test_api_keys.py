import pytest

from predictor.models import ApiKey
from predictor.ops import api_keys

pytestmark = pytest.mark.django_db

ADD_URL = "/admin/predictor/apikey/add/"
LIST_URL = "/admin/predictor/apikey/"


def test_staff_create_a_key_in_admin_and_see_it_once(admin_client, admin_user):
    response = admin_client.post(ADD_URL, {"name": "nightly report"})
    assert response.status_code == 200  # the secret is on the page answering the POST, not after a redirect
    assert "no-store" in response["Cache-Control"]
    secret = response.context["secret"]
    assert f'value="{secret}"' in response.content.decode()
    assert "Authorization: Bearer &lt;key&gt;" in response.content.decode()  # how to send it, shown in full

    api_key = ApiKey.objects.get()
    assert api_key.name == "nightly report"
    assert api_key.created_by == admin_user
    assert secret.startswith(api_key.prefix)
    assert api_key.key_sha256 == ApiKey.hash(secret) != secret
    assert secret.encode() not in admin_client.get(f"/admin/predictor/apikey/{api_key.pk}/change/").content
    assert admin_client.get("/api/models", HTTP_X_API_KEY=secret).status_code == 200


def test_staff_revoke_keys_in_admin(admin_client, admin_user, client):
    api_key, secret = api_keys.create_key(name="old", created_by=admin_user)
    response = admin_client.post(LIST_URL, {"action": "revoke_keys", "_selected_action": [api_key.pk]}, follow=True)
    assert response.status_code == 200
    api_key.refresh_from_db()
    assert api_key.revoked_at is not None
    assert not api_key.is_active
    assert client.get("/api/models", HTTP_X_API_KEY=secret).status_code == 401


def test_keys_cannot_be_deleted_so_their_record_stays(admin_client, admin_user):
    api_key, _ = api_keys.create_key(name="kept", created_by=admin_user)
    assert admin_client.get(f"/admin/predictor/apikey/{api_key.pk}/delete/").status_code == 403


def test_each_key_is_different_and_unguessable(admin_user):
    secrets = {api_keys.create_key(name=f"key {n}", created_by=admin_user)[1] for n in range(5)}
    assert len(secrets) == 5
    assert all(len(secret) >= 43 for secret in secrets)
    assert api_keys.authenticate("") is None
    assert api_keys.authenticate("x" * 43) is None
