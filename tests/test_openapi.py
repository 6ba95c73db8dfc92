"""The OpenAPI document builds without errors and documents every resource; Swagger UI is served."""

from __future__ import annotations

from typing import Any

from drf_spectacular.generators import SchemaGenerator


def test_schema_builds_and_lists_every_resource(api: dict[str, Any]) -> None:
    schema = SchemaGenerator().get_schema(request=None, public=True)
    paths = set(schema["paths"])
    for resource in (
        "flows",
        "processors",
        "sockets",
        "plugs",
        "queues",
        "nodes",
        "agents",
        "workers",
        "calls",
        "users",
        "groups",
        "privileges",
    ):
        assert f"/api/{resource}/" in paths, resource
    assert "/api/flows/{id}/graph/" in paths
    assert "/api/processors/{id}/start/" in paths
    assert "/api/auth/token/" in paths


def test_schema_and_swagger_ui_are_served(api: dict[str, Any]) -> None:
    response = api["alice"].get("/api/schema/")
    assert response.status_code == 200
    assert b"openapi: 3" in response.content
    docs = api["alice"].get("/api/docs/")
    assert docs.status_code == 200 and b"swagger" in docs.content.lower()
    # Served from this server (the sidecar package), so the docs work on a machine without internet.
    assert b"/static/drf_spectacular_sidecar/swagger-ui-dist/" in docs.content
    assert b"cdn.jsdelivr" not in docs.content
    asset = api["anonymous"].get("/static/drf_spectacular_sidecar/swagger-ui-dist/swagger-ui-bundle.js")
    assert asset.status_code == 200
