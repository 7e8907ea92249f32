"""Cookies, headers, login throttling, error pages."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import select

from tests.conftest import csrf_from, login
from tumorboard.audit.models import AuditEvent


def _try(client, username: str, password: str):
    page = client.get("/login")
    return client.post("/login", data={"csrf_token": csrf_from(page.text), "username": username, "password": password})


def test_session_cookie_is_httponly_and_samesite(client, demo):
    page = client.get("/login")
    response = client.post(
        "/login", data={"csrf_token": csrf_from(page.text), "username": "qm", "password": "tumorboard-demo"}
    )
    cookie = response.headers["Set-Cookie"]
    assert "HttpOnly" in cookie and "SameSite=Lax" in cookie


def test_production_cookie_is_secure():
    from tumorboard.config import Settings

    settings = Settings.from_env({"TUMORBOARD_SECRET_KEY": "s" * 40})
    assert settings.is_production and settings.cookie_secure


def test_security_headers(client, demo):
    response = client.get("/login")
    assert "frame-ancestors 'none'" in response.headers["Content-Security-Policy"]
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    assert response.headers["Cache-Control"] == "no-store"


def test_wrong_password_is_refused_in_german(client, demo):
    response = _try(client, "koordination", "falsch")
    assert response.status_code == 401 and "Benutzername oder Passwort ist falsch." in response.text
    response = _try(client, "niemand", "falsch")
    assert response.status_code == 401 and "Benutzername oder Passwort ist falsch." in response.text


def test_repeated_failures_are_throttled_and_audited(client, demo, clock):
    for _ in range(5):
        assert _try(client, "koordination", "falsch").status_code == 401
    # even the right password is refused while throttled
    response = _try(client, "koordination", "tumorboard-demo")
    assert response.status_code == 401 and "Zu viele fehlgeschlagene Anmeldungen" in response.text
    tags = demo.scalars(select(AuditEvent.tag).where(AuditEvent.subject_id == "koordination")).all()
    assert tags.count("auth:login:failure") == 5 and "auth:login:throttled" in tags
    # other accounts are not affected
    assert _try(client, "qm", "tumorboard-demo").status_code == 302
    clock.advance(dt.timedelta(minutes=16))
    assert _try(client, "koordination", "tumorboard-demo").status_code == 302


def test_unknown_page_is_a_german_404(client, demo):
    login(client, "qm")
    response = client.get("/sessions/999999")
    assert response.status_code == 404 and "Diese Sitzung gibt es nicht." in response.text
    assert client.get("/nirgendwo").status_code == 404
