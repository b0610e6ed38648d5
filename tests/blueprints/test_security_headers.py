"""Every response carries the security headers; no template has a script the policy would refuse."""

import re
from pathlib import Path

import pytest

from tests.conftest import HTMX, login
from webapp import config, create_app

TEMPLATES = Path(__file__).resolve().parents[2] / "webapp" / "templates"


def directives(response) -> dict[str, str]:
    policy = response.headers["Content-Security-Policy"]
    return {part.split()[0]: part.strip() for part in policy.split(";")}


def assert_protected(response) -> None:
    policy = directives(response)
    assert policy["script-src"] == "script-src 'self'"
    assert policy["style-src"] == "style-src 'self'"
    assert policy["default-src"] == "default-src 'self'"
    assert policy["frame-ancestors"] == "frame-ancestors 'none'"
    assert policy["object-src"] == "object-src 'none'" and policy["base-uri"] == "base-uri 'none'"
    assert response.headers["X-Frame-Options"] == "DENY"
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    assert response.headers["Referrer-Policy"] == "same-origin"


def test_every_kind_of_response_carries_the_headers(app, client, member, project, case):
    responses = [
        client.get("/login"),
        client.get("/projects/"),  # a redirect to the login
        client.get("/static/app.css"),
        client.post("/login", data={"email": member.email, "password": "wrong"}),
    ]
    login(client, member)
    responses += [
        client.get("/projects/"),
        client.get(f"/projects/{project.id}/cases/", headers=HTMX),  # a fragment
        client.get("/projects/999999/cases/"),  # 404
        client.get("/system/users"),  # 403
        client.post("/logout"),
    ]
    for response in responses:
        assert_protected(response)
        assert "Strict-Transport-Security" not in response.headers


def test_a_throttled_login_carries_the_headers(client, member):
    for _ in range(6):
        response = client.post("/login", data={"email": member.email, "password": "wrong"})
    assert response.status_code == 429
    assert_protected(response)


def test_hsts_only_when_cookies_are_secure(app, monkeypatch):
    monkeypatch.setenv("HERALD_SECURE_COOKIES", "1")
    secure = create_app(config.TestConfig, SQLALCHEMY_DATABASE_URI=app.config["SQLALCHEMY_DATABASE_URI"])
    with secure.app_context():
        response = secure.test_client().get("/login")
    assert response.headers["Strict-Transport-Security"] == "max-age=31536000"
    assert_protected(response)


INLINE_SCRIPT = re.compile(r"<script(?![^>]*\bsrc=)[^>]*>", re.IGNORECASE)
HANDLER = re.compile(r"\son[a-z]+\s*=", re.IGNORECASE)


@pytest.mark.parametrize(
    "template", sorted(TEMPLATES.rglob("*.html")), ids=lambda p: str(p.relative_to(TEMPLATES))
)
def test_no_template_has_an_inline_script_or_event_handler(template):
    text = template.read_text()
    assert not INLINE_SCRIPT.search(text)
    assert not HANDLER.search(text)
    assert "javascript:" not in text.lower()


def test_htmx_is_told_not_to_add_its_style_element(client):
    page = client.get("/login").get_data(as_text=True)
    assert (
        '<meta name="htmx-config" content=\'{"includeIndicatorStyles": false, "allowEval": false}\'>' in page
    )
