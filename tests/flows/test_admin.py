"""The Django admin honours object permissions: staff see and change only what their rights allow."""

from __future__ import annotations

from typing import Any

import pytest
from django.test import Client


def staff_client(user: Any) -> Client:
    user.is_staff = True
    user.save()
    client = Client()
    client.force_login(user)
    return client


@pytest.mark.parametrize("page", ["flow", "processor", "socket", "plug"])
def test_staff_lists_show_only_visible_objects(demo: Any, bob: Any, charlie: Any, page: str) -> None:
    names = {"flow": "demo", "processor": "proc1", "socket": "demo.proc1.do_something", "plug": "p1-to-p2"}
    seen = staff_client(bob).get(f"/admin/flows/{page}/")
    assert seen.status_code == 200
    assert names[page] in seen.content.decode()
    hidden = staff_client(charlie).get(f"/admin/flows/{page}/")
    assert hidden.status_code == 200
    assert names[page] not in hidden.content.decode()


def test_staff_without_rights_cannot_open_or_change_a_flow(demo: Any, charlie: Any) -> None:
    client = staff_client(charlie)
    response = client.get(f"/admin/flows/flow/{demo.flow.id}/change/", follow=True)
    # The admin treats an object outside the user's queryset as missing: it redirects to the index and says so.
    assert response.redirect_chain and response.redirect_chain[-1][0] == "/admin/"
    assert "doesn\u2019t exist" in response.content.decode()
    assert 'value="demo"' not in response.content.decode()
    posted = client.post(f"/admin/flows/flow/{demo.flow.id}/change/", {"name": "stolen", "owner": charlie.pk})
    assert posted.status_code in (302, 403, 404)
    demo.flow.refresh_from_db()
    assert demo.flow.name == "demo"


def test_view_only_staff_sees_the_flow_read_only(demo: Any, bob: Any) -> None:
    client = staff_client(bob)
    page = client.get(f"/admin/flows/flow/{demo.flow.id}/change/")
    assert page.status_code == 200
    assert b'name="_save"' not in page.content  # no save button: read-only
    client.post(f"/admin/flows/flow/{demo.flow.id}/change/", {"name": "renamed", "owner": bob.pk})
    demo.flow.refresh_from_db()
    assert demo.flow.name == "demo"


def test_owner_edits_in_admin_bump_the_flow_version(demo: Any, alice: Any) -> None:
    client = staff_client(alice)
    version = demo.flow.version
    p1 = demo.p1
    response = client.post(
        f"/admin/flows/processor/{p1.id}/change/",
        {
            "flow": demo.flow.id,
            "name": "renamed",
            "git_url": p1.git_url,
            "ref": p1.ref,
            "module": p1.module,
            "subdirectory": "",
            "requirements": "",
            "concurrency": 2,
            "autoscale_max": 0,
            "replicas": 1,
            "replicas_max": 0,
            "node": "",
            "scheduler": "",
            "requested_status": "stopped",
            "retries": 3,
            "time_limit": 300,
            "rate_limit": "",
        },
    )
    assert response.status_code == 302, response.content.decode()[:2000]
    p1.refresh_from_db()
    demo.flow.refresh_from_db()
    assert p1.name == "renamed" and p1.concurrency == 2
    assert demo.flow.version == version + 1
