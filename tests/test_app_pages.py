"""The browser app: Django's session login in front of the designer page built from frontend/."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from django.test import Client

from tests.factories import make_user


@pytest.fixture
def manifest(tmp_path: Path, settings: Any) -> Path:
    path = tmp_path / "manifest.json"
    path.write_text(json.dumps({"src/main.tsx": {"file": "assets/main-abc.js", "css": ["assets/main-def.css"]}}))
    settings.ELASTICCODE_FRONTEND_MANIFEST = path
    return path


def test_a_visitor_is_sent_to_the_login_page(client: Client, manifest: Path) -> None:
    for path in ("/", "/flows/7b6b2d8e-1f7c-4bb0-9a63-0c6f41b0e6a1/"):
        response = client.get(path)
        assert response.status_code == 302
        assert response["Location"].startswith("/login/?next=")


def test_login_opens_the_designer_with_the_built_assets(client: Client, manifest: Path, db: Any) -> None:
    user = make_user("alice", "CREATE")
    user.set_password("pw-alice-123")
    user.save()
    page = client.get("/login/")
    assert page.status_code == 200 and b'name="username"' in page.content

    wrong = client.post("/login/", {"username": "alice", "password": "nope"})
    assert wrong.status_code == 200 and b"Wrong username or password" in wrong.content

    response = client.post("/login/", {"username": "alice", "password": "pw-alice-123", "next": "/"}, follow=True)
    assert response.status_code == 200
    html = response.content.decode()
    assert '<script type="module" src="/static/app/assets/main-abc.js">' in html
    assert 'href="/static/app/assets/main-def.css"' in html
    assert "csrftoken" in response.cookies or "csrftoken" in client.cookies

    deep = client.get("/flows/7b6b2d8e-1f7c-4bb0-9a63-0c6f41b0e6a1/")
    assert deep.status_code == 200 and b"main-abc.js" in deep.content
    # Found by a designer: the tab had no icon (an empty data: URL). Both pages have one.
    for body in (html, page.content.decode()):
        assert '<link rel="icon" type="image/svg+xml" href="data:image/svg+xml,' in body

    client.post("/logout/")
    assert client.get("/").status_code == 302


def test_an_unbuilt_designer_says_how_to_build_it(client: Client, settings: Any, tmp_path: Path, db: Any) -> None:
    settings.ELASTICCODE_FRONTEND_MANIFEST = tmp_path / "missing.json"
    client.force_login(make_user("alice"))
    response = client.get("/")
    assert response.status_code == 503
    assert b"npm run build" in response.content and b"make run" in response.content
