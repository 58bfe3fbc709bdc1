"""Who may open what: anonymous visitors sign in first, only admins manage users and read the audit log."""

from __future__ import annotations

import inspect
from urllib.parse import parse_qs, urlsplit

import pytest

from accounts.models import Role
from accounts.roles import role_required
from extensions import db
from tests.helpers import assert_problem, post_form, signed_in_client

ADMIN_PAGES = ["/users", "/audit", "/compliance/settings"]
SIGNED_IN_PAGES = ["/", "/tokens", "/profile", "/suppressions", "/lint", "/audience/segments", "/audience/segments/new",
                   "/templates", "/templates/new", *ADMIN_PAGES]
FORBIDDEN = "Your role does not allow this. Ask an administrator if you need access."
# Endpoints anyone may reach; every other one must be guarded by role_required.
PUBLIC_ENDPOINTS = {
    "static", "web.favicon", "accounts.login", "accounts.accept_invitation", "web.switch_language", "health.healthz",
    "health.metrics",
    # The provider's callbacks: no session, the sender's app secret signs every body (tests/feedback).
    "feedback_webhooks.handshake", "feedback_webhooks.receive",
    # A business's public subscribe page and the QR codes of its deep links: for people who are no users.
    "subscribe.page", "subscribe.page_qr", "subscribe.link_qr",
}
ADMIN_ENDPOINTS = {
    "accounts.user_list", "accounts.set_role", "accounts.deactivate", "accounts.reactivate", "accounts_api.users",
    "compliance.audit_log", "compliance_api.audit_log", "compliance.settings", "compliance.save_settings",
    "compliance.reset_settings", "compliance.lift_suppression", "compliance_api.lift_suppression",
    "campaigns.set_template_status", "campaigns_api.set_template_status",
}
# Campaign and review pages (campaigns/campaign_views.py, campaign_api.py).
ADMIN_PAGES += ["/campaigns/rate-card"]
SIGNED_IN_PAGES += ["/campaigns", "/campaigns/new", "/reviews", "/campaigns/rate-card"]
ADMIN_ENDPOINTS |= {"campaigns.rate_card", "campaigns.save_rate_card", "campaigns.reset_rate_card",
                    "campaigns_api.create_sender", "campaigns_api.save_rate_card", "campaigns_api.reset_rate_card"}
# Sender pages and API (campaigns/sender_views.py, sender_api.py): admins manage senders.
ADMIN_PAGES += ["/senders", "/senders/new"]
ADMIN_ENDPOINTS |= {"campaigns.sender_list", "campaigns.new_sender", "campaigns.create_sender",
                    "campaigns.sender_detail", "campaigns.save_sender", "campaigns.check_sender",
                    "campaigns_api.update_sender", "campaigns_api.check_sender",
                    "campaigns.connect_webhook", "campaigns_api.connect_webhook"}
# Notifications (campaigns/feedback/notification_views.py, notification_api.py): every signed-in role reads them.
SIGNED_IN_PAGES += ["/notifications", "/notifications?unresolved=1"]
GUARD_CODE = role_required()(lambda: None).__code__


@pytest.fixture
def browser_as(app, make_user):
    """A browser signed in with a new account of the given role."""

    return lambda role: signed_in_client(app, make_user(role).email)


def guarded_roles(view) -> tuple[Role, ...] | None:
    """The roles ``view`` is guarded by (() for any signed-in user), or None when it is unguarded."""
    if getattr(view, "__code__", None) is not GUARD_CODE:
        return None
    return inspect.getclosurevars(view).nonlocals["roles"]


@pytest.mark.parametrize("path", [*SIGNED_IN_PAGES, "/audit?action=user.&before=10"])
def test_anonymous_visitors_are_sent_to_sign_in_and_back(client, path):
    response = client.get(path)
    assert response.status_code == 302
    location = urlsplit(response.headers["Location"])
    assert location.path == "/login" and parse_qs(location.query) == {"next": [path]}


@pytest.mark.parametrize("path", ["/users/1/role", "/users/1/deactivate", "/users/1/reactivate", "/tokens/1/revoke"])
def test_anonymous_posts_are_sent_to_sign_in(client, path):
    response = post_form(client, path, {"role": "admin"}, page="/login")
    assert response.status_code == 302 and response.headers["Location"].startswith("/login?next=")


@pytest.mark.parametrize("role", ["marketer", "reviewer"])
@pytest.mark.parametrize("path", ADMIN_PAGES)
def test_other_roles_get_a_plain_403_page_on_admin_pages(browser_as, role, path):
    response = browser_as(role).get(path)
    assert response.status_code == 403
    page = response.get_data(as_text=True)
    assert FORBIDDEN in page
    for internal in ("Traceback", "Forbidden", "permission to access", "role_required", ".py", "werkzeug"):
        assert internal not in page


@pytest.mark.parametrize("role", ["marketer", "reviewer"])
def test_other_roles_cannot_use_the_admin_forms(browser_as, make_user, role):
    browser = browser_as(role)
    target = make_user("marketer")
    for action, data in (("role", {"role": "admin"}), ("deactivate", {})):
        response = post_form(browser, f"/users/{target.id}/{action}", data, page="/")
        assert response.status_code == 403
    db.session.refresh(target)
    assert target.role is Role.MARKETER and target.active


@pytest.mark.parametrize("path", SIGNED_IN_PAGES)
def test_admins_open_every_page(browser_as, path):
    assert browser_as("admin").get(path).status_code == 200


@pytest.mark.parametrize(("role", "sees_admin_links"), [("admin", True), ("marketer", False), ("reviewer", False)])
def test_navigation_shows_users_and_audit_links_only_to_admins(browser_as, role, sees_admin_links):
    page = browser_as(role).get("/").get_data(as_text=True)
    assert 'href="/tokens"' in page and 'href="/profile"' in page
    assert ('href="/users"' in page) is sees_admin_links
    assert ('href="/audit"' in page) is sees_admin_links
    assert ('href="/compliance/settings"' in page) is sees_admin_links
    assert 'href="/suppressions"' in page and 'href="/lint"' in page


def test_every_endpoint_but_the_public_ones_is_guarded_by_role_required(app):
    unguarded = {endpoint for endpoint, view in app.view_functions.items() if guarded_roles(view) is None}
    assert unguarded == PUBLIC_ENDPOINTS
    admin_only = {endpoint for endpoint, view in app.view_functions.items() if guarded_roles(view) == (Role.ADMIN,)}
    assert admin_only == ADMIN_ENDPOINTS


def test_role_required_admits_the_named_roles_and_admins(app, client, browser_as):
    @app.get("/reviewers-only")
    @role_required(Role.REVIEWER)
    def reviewers_only():
        return "for reviewers"

    @app.get("/api/v1/reviewers-only")
    @role_required(Role.REVIEWER)
    def reviewers_only_api():
        return {"for": "reviewers"}

    assert client.get("/reviewers-only").headers["Location"] == "/login?next=/reviewers-only"
    assert_problem(client.get("/api/v1/reviewers-only"), 401)
    assert browser_as("marketer").get("/reviewers-only").status_code == 403
    for role in ("reviewer", "admin"):
        response = browser_as(role).get("/reviewers-only")
        assert response.status_code == 200 and response.get_data(as_text=True) == "for reviewers"
