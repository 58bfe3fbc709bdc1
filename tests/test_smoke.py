from tests.helpers import sign_in


def test_admin_signs_in_and_sees_admin_navigation(client, make_user):
    admin = make_user("admin", email="boss@example.com")
    response = sign_in(client, admin.email)
    assert response.status_code == 302
    page = client.get("/").get_data(as_text=True)
    assert "boss@example.com" in page
    assert 'href="/users"' in page and 'href="/audit"' in page
