"""Login sessions end: logout on the server side, idle timeout, absolute lifetime, a new session at every login."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import select

from tests.conftest import csrf_from, login
from tumorboard.audit.models import AuditEvent
from tumorboard.cases.models import Case

COOKIE = "tumorboard_session"


def _case_url(db) -> str:
    return f"/cases/{db.scalar(select(Case.id).order_by(Case.id))}"


def _logout(client) -> None:
    token = csrf_from(client.get("/").text if client.get("/").status_code == 200 else client.get("/login").text)
    assert client.post("/logout", data={"csrf_token": token}).status_code == 302


def _session_data(app, client) -> dict:
    cookie = client.get_cookie(COOKIE)
    return dict(app.session_interface.get_signing_serializer(app).loads(cookie.value))


def test_a_cookie_saved_before_logout_no_longer_opens_a_patient_page(app, client, demo):
    login(client, "koordination")
    url = _case_url(demo)
    saved = client.get_cookie(COOKIE).value
    assert client.get(url).status_code == 200
    _logout(client)
    thief = app.test_client()
    thief.set_cookie(COOKIE, saved)
    response = thief.get(url)
    assert response.status_code == 302 and response.headers["Location"].startswith("/login")
    assert "auth:session:logout" in demo.scalars(select(AuditEvent.tag)).all()
    # a new login works and gets a cookie the old one does not resurrect
    login(client, "koordination")
    assert client.get(url).status_code == 200
    assert thief.get(url).status_code == 302


def test_idle_timeout_with_the_injected_clock(app, client, demo, clock):
    login(client, "koordination")
    url = _case_url(demo)
    clock.advance(dt.timedelta(minutes=29))
    assert client.get(url).status_code == 200  # activity keeps the session alive ...
    clock.advance(dt.timedelta(minutes=29))
    assert client.get(url).status_code == 200
    clock.advance(dt.timedelta(minutes=31))  # ... 30 minutes without a request end it
    response = client.get(url)
    assert response.status_code == 302 and response.headers["Location"].startswith("/login")
    assert "Ihre Sitzung ist abgelaufen" in client.get("/login").text


def test_absolute_lifetime_ends_an_active_session(client, demo, clock):
    login(client, "koordination")
    url = _case_url(demo)
    start = clock.now()
    while clock.now() - start < dt.timedelta(hours=13):  # a request every 29 minutes
        clock.advance(dt.timedelta(minutes=29))
        if client.get(url).status_code != 200:
            break
    assert dt.timedelta(hours=12) < clock.now() - start <= dt.timedelta(hours=12, minutes=29)
    assert client.get(url).status_code == 302


def test_idle_timeout_is_configurable(runtime, demo, clock):
    from dataclasses import replace

    from tumorboard.web import create_app

    runtime.settings = replace(runtime.settings, session_idle_minutes=5)
    client = create_app(runtime).test_client()
    login(client, "koordination")
    clock.advance(dt.timedelta(minutes=6))
    assert client.get(_case_url(demo)).status_code == 302


def test_the_session_is_new_at_every_login(app, client, demo):
    client.get("/login")
    before = _session_data(app, client)
    assert "uid" not in before and "csrf_token" in before
    login(client, "koordination")
    first = _session_data(app, client)
    assert first.get("csrf_token") != before["csrf_token"]  # nothing planted before the login survives it
    client.get("/")  # a page with a form makes a new CSRF token
    token = _session_data(app, client)["csrf_token"]
    login(client, "koordination")
    second = _session_data(app, client)
    assert first["sid"] != second["sid"] and second.get("csrf_token") != token
