"""The app factory and the web plumbing every page relies on: headers, errors, health, metrics."""

from __future__ import annotations

import pytest

from tests.conftest import build_app
from tests.helpers import PASSWORD, assert_problem, sign_in


def test_factory_applies_overrides_on_top_of_the_environment(app, database_url):
    assert app.config["SQLALCHEMY_DATABASE_URI"] == database_url
    assert app.config["TESTING"] is True
    assert {"web", "health", "accounts", "accounts_api", "compliance", "compliance_api"} <= set(app.blueprints)


def test_every_response_carries_the_security_headers(client):
    response = client.get("/login")
    csp = response.headers["Content-Security-Policy"]
    assert "default-src 'self'" in csp and "script-src 'self'" in csp and "frame-ancestors 'none'" in csp
    assert "unsafe-inline" not in csp
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    assert response.headers["X-Frame-Options"] == "DENY"
    assert response.headers["Referrer-Policy"] == "same-origin"
    assert response.headers["Cache-Control"] == "no-store"
    assert "Strict-Transport-Security" not in response.headers


def test_hsts_is_sent_over_https(client):
    response = client.get("/login", base_url="https://vestnik.example.com")
    assert response.headers["Strict-Transport-Security"].startswith("max-age=")


def test_session_cookie_is_httponly_and_samesite(client, make_user):
    user = make_user("marketer")
    response = sign_in(client, user.email)
    cookie = response.headers.get_all("Set-Cookie")[0]
    assert "HttpOnly" in cookie and "SameSite=Lax" in cookie
    assert "Secure" not in cookie  # plain http on the embedded default


def test_session_cookie_is_secure_behind_https(database_url, redis_url, make_user):
    secure_app = build_app(database_url, redis_url, SESSION_COOKIE_SECURE=True)
    user = make_user("marketer")
    response = sign_in(secure_app.test_client(), user.email)
    assert "Secure" in response.headers.get_all("Set-Cookie")[0]


def test_user_content_is_escaped_never_rendered_as_html(client, make_user):
    make_user("admin", email="admin@example.com")
    make_user("marketer", name="<script>alert(1)</script>")
    sign_in(client, "admin@example.com")
    page = client.get("/users").get_data(as_text=True)
    assert "<script>alert(1)</script>" not in page
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page


def test_no_template_or_module_bypasses_autoescaping():
    from pathlib import Path

    root = Path(__file__).resolve().parents[1]
    sources = [
        *root.glob("*/templates/**/*.html"),
        *root.glob("templates/**/*.html"),
        *root.glob("*/*.py"),
        *root.glob("*.py"),
    ]
    offenders = [
        str(path.relative_to(root)) for path in sources
        if "tests" not in path.parts and ".venv" not in path.parts
        and any(marker in path.read_text() for marker in ("|safe", "| safe", "Markup(", "autoescape false"))
    ]
    assert offenders == []


def test_unknown_page_is_a_plain_404_page(client):
    response = client.get("/no/such/page")
    assert response.status_code == 404
    assert "There is nothing at this address." in response.get_data(as_text=True)


def test_unknown_api_path_is_a_problem(client):
    assert_problem(client.get("/api/v1/no-such-thing"), 404, detail="There is nothing at this address.")


def test_a_crash_shows_a_sentence_and_leaks_nothing(database_url, redis_url, caplog):
    crashing = build_app(database_url, redis_url)

    def explode():
        raise RuntimeError("secret-internal-detail at /srv/vestnik/db.py line 42")

    crashing.add_url_rule("/explode", view_func=explode)
    crashing.add_url_rule("/api/v1/explode", endpoint="api_explode", view_func=explode)
    client = crashing.test_client()
    page = client.get("/explode")
    assert page.status_code == 500
    text = page.get_data(as_text=True)
    assert "Something went wrong on our side" in text
    assert "secret-internal-detail" not in text and "Traceback" not in text
    api = client.get("/api/v1/explode")
    assert_problem(api, 500, detail="Something went wrong on our side")
    assert "secret-internal-detail" not in api.get_data(as_text=True) and "Traceback" not in api.get_data(as_text=True)
    assert "secret-internal-detail" in caplog.text  # but operators can find it in the log


def test_oversized_requests_are_refused_with_413(database_url, redis_url):
    small = build_app(database_url, redis_url, MAX_CONTENT_LENGTH=1024)
    response = small.test_client().post("/login", data={"email": "x" * 4096})
    assert response.status_code == 413
    assert "too large" in response.get_data(as_text=True)


def test_forms_without_a_csrf_token_are_refused(client, make_user):
    user = make_user("marketer")
    response = client.post("/login", data={"email": user.email, "password": PASSWORD})
    assert response.status_code == 400
    assert "This form has expired" in response.get_data(as_text=True)
    assert client.get("/").status_code == 302  # still signed out


def test_healthz_reports_database_and_redis(client):
    response = client.get("/healthz")
    assert response.status_code == 200
    assert response.json == {"status": "ok", "database": "ok", "redis": "ok"}


def test_healthz_is_503_when_redis_is_down(database_url, tmp_path):
    broken = build_app(database_url, f"unix://{tmp_path / 'nothing-listens-here.sock'}")
    response = broken.test_client().get("/healthz")
    assert response.status_code == 503
    assert response.json == {"status": "unavailable", "database": "ok", "redis": "unavailable"}
    assert "nothing-listens-here" not in response.get_data(as_text=True)


def test_metrics_expose_request_counts_and_queue_depths(app, client):
    from extensions import redis_queues

    redis_queues.queue("imports").enqueue("builtins.print", "queued, never run")
    client.get("/login")
    body = client.get("/metrics").get_data(as_text=True)
    assert 'vestnik_http_requests_total{endpoint="accounts.login",method="GET",status="200"} 1.0' in body
    assert 'vestnik_queue_jobs_waiting{queue="imports"} 1.0' in body
    assert 'vestnik_queue_jobs_waiting{queue="dispatch"} 0.0' in body
    assert "vestnik_http_request_duration_seconds_bucket" in body


@pytest.mark.parametrize(("header", "status"), [(None, 401), ("Bearer wrong", 401), ("Bearer s3cret-scrape", 200)])
def test_metrics_can_require_a_scrape_token(database_url, redis_url, header, status):
    guarded = build_app(database_url, redis_url, METRICS_TOKEN="s3cret-scrape")
    headers = {"Authorization": header} if header else {}
    assert guarded.test_client().get("/metrics", headers=headers).status_code == status
