"""Every route is role-checked: without a login only the login page, static files and token feeds answer."""

from __future__ import annotations

import re

import pytest
from flask import Flask

from tests.conftest import login
from tumorboard.web.security import PERMISSION_ATTR, PUBLIC_ATTR

PUBLIC_ENDPOINTS = {"auth.login", "auth.language", "static", "calendar.feed_all", "calendar.feed_board"}


def _url(rule) -> str:
    values = {arg: ("x" * 43 if arg == "token" else "style.css" if arg == "filename" else 1) for arg in rule.arguments}
    return re.sub(r"<(?:[^:>]+:)?([^>]+)>", lambda m: str(values[m.group(1)]), rule.rule)


def _rules(app: Flask):
    return [r for r in app.url_map.iter_rules()]


def test_every_endpoint_is_public_by_intent_or_declares_a_permission(app):
    for rule in _rules(app):
        view = app.view_functions[rule.endpoint]
        is_public = getattr(view, PUBLIC_ATTR, False) or rule.endpoint == "static"
        assert is_public == (rule.endpoint in PUBLIC_ENDPOINTS), rule.endpoint
        if not is_public:
            assert getattr(view, PERMISSION_ATTR, None) is not None, f"{rule.endpoint} has no role check"


def test_without_login_only_login_static_and_feeds_answer(app, client, demo):
    assert len(_rules(app)) >= 15
    for rule in _rules(app):
        url = _url(rule)
        for method in sorted(rule.methods - {"HEAD", "OPTIONS"}):
            response = client.open(url, method=method)
            if rule.endpoint in ("auth.login", "static"):
                assert response.status_code in (200, 400), (method, url)  # 400: POST without CSRF token
            elif rule.endpoint in ("calendar.feed_all", "calendar.feed_board"):
                assert response.status_code == 404, url  # unknown token
            elif rule.endpoint == "auth.language":
                assert response.status_code in (302, 400), url  # only sets the UI language
            elif method == "GET":
                assert response.status_code == 302, (method, url)
                assert response.headers["Location"].startswith("/login"), url
            else:
                assert response.status_code in (400, 401), (method, url)  # no CSRF token, no login
            assert b"Konferenzraum" not in response.data and b"video.example.org" not in response.data
            response.close()


@pytest.mark.parametrize(
    ("user", "allowed"), [("qm", True), ("admin", True), ("koordination", False), ("dr.berger", False)]
)
def test_audit_log_only_for_qm_and_admin(client, demo, user, allowed):
    login(client, user)
    assert client.get("/audit").status_code == (200 if allowed else 403)


def test_next_parameter_cannot_redirect_elsewhere(client, demo):
    from tests.conftest import csrf_from

    page = client.get("/login?next=//evil.example.org/x")
    response = client.post(
        "/login?next=//evil.example.org/x",
        data={"csrf_token": csrf_from(page.text), "username": "qm", "password": "tumorboard-demo"},
    )
    assert response.headers["Location"] == "/"
