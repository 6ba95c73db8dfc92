"""The OpenAPI document builds without errors and documents every resource; Swagger UI is served."""

from __future__ import annotations

import json
from typing import Any

import jsonschema
import pytest
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


# -- what the document says about answers --------------------------------------------------------------------


@pytest.fixture
def document(api: dict[str, Any]) -> dict[str, Any]:
    response = api["alice"].get("/api/schema/?format=json")
    assert response.status_code == 200, response.content
    return dict(response.json())


def operations(document: dict[str, Any]) -> list[tuple[str, str, dict[str, Any]]]:
    return [
        (method.upper(), path, operation)
        for path, item in document["paths"].items()
        for method, operation in item.items()
        if method in {"get", "put", "post", "patch", "delete"}
    ]


def test_the_document_is_the_same_for_every_caller(api: dict[str, Any], document: dict[str, Any]) -> None:
    for caller in ("anonymous", "charlie", "admin"):
        assert api[caller].get("/api/schema/?format=json").json() == document, caller
    # The document describes the API, not what one caller may see: ids are typed and filters listed for everyone.
    flow_id = next(p for p in document["paths"]["/api/flows/{id}/"]["get"]["parameters"] if p["name"] == "id")
    assert flow_id["schema"] == {"type": "string", "format": "uuid"}
    user_filters = {p["name"] for p in document["paths"]["/api/users/"]["get"]["parameters"]}
    assert {"username", "is_active", "limit", "offset"} <= user_filters


def test_privilege_fields_that_can_be_null_are_documented_nullable(document: dict[str, Any]) -> None:
    privilege = document["components"]["schemas"]["Privilege"]["properties"]
    for name in ("user", "group", "object_type", "object_id", "granted_by"):
        assert privilege[name].get("nullable") is True, name
    for name in ("id", "right", "granted_at"):
        assert not privilege[name].get("nullable"), name


def test_privileges_of_a_group_and_global_ones_match_the_document(
    api: dict[str, Any], admin_user: Any, document: dict[str, Any]
) -> None:
    from django.contrib.auth.models import Group

    from backend.accounts.services import privilege_grant

    privilege_grant(right="READ", group=Group.objects.create(name="readers"), granted_by=admin_user)
    rows = api["admin"].get("/api/privileges/?group__name=readers").json()["results"]
    assert [(row["user"], row["group"], row["object_type"], row["object_id"]) for row in rows] == [
        (None, "readers", None, None)
    ]
    validate_against(document, "Privilege", rows[0])


def test_rights_are_documented_as_the_plain_array_they_are(api: dict[str, Any], document: dict[str, Any]) -> None:
    operation = document["paths"]["/api/privileges/rights/"]["get"]
    schema = operation["responses"]["200"]["content"]["application/json"]["schema"]
    assert schema == {"type": "array", "items": {"$ref": "#/components/schemas/Right"}}
    assert not [p for p in operation.get("parameters", []) if p["in"] == "query"]  # no pages, no filters

    body = api["alice"].get("/api/privileges/rights/").json()
    assert isinstance(body, list) and body
    validate_against(document, "Right", *body)


def test_every_operation_documents_the_errors_it_can_answer(document: dict[str, Any]) -> None:
    for method, path, operation in operations(document):
        responses = operation["responses"]
        label = f"{method} {path}"
        open_to_all = {} in operation.get("security", [{}])
        has_input = "requestBody" in operation or any(p["in"] == "query" for p in operation.get("parameters", []))
        if not open_to_all:
            assert {"401", "403"} <= set(responses), label
        if "{" in path:
            assert "404" in responses, label
        if has_input:
            assert "400" in responses, label
        if "requestBody" in operation:
            assert {"413", "415"} <= set(responses), label
        for code, response in responses.items():
            if code.startswith("4"):
                schema = response["content"]["application/json"]["schema"]
                assert schema == {"$ref": "#/components/schemas/Error"}, (label, code)


def test_a_boolean_filter_refuses_what_the_document_does_not_allow(api: dict[str, Any], bob: Any) -> None:
    bob.is_active = False
    bob.save()
    refused = api["admin"].get("/api/users/?is_active=maybe")
    assert refused.status_code == 400, refused.content
    assert refused.json()["error"]["fields"] == {"is_active": ["Use true or false."]}
    inactive = api["admin"].get("/api/users/?is_active=false").json()["results"]
    assert [user["username"] for user in inactive] == ["bob"]


def test_token_login_documents_its_throttle_and_no_credentials(document: dict[str, Any]) -> None:
    login = document["paths"]["/api/auth/token/"]["post"]
    assert set(login["responses"]) == {"200", "400", "413", "415", "429"}
    assert "Retry-After" in login["responses"]["429"]["headers"]
    logout = document["paths"]["/api/auth/token/"]["delete"]
    assert set(logout["responses"]) == {"204", "401", "403"}


def test_errors_the_api_answers_match_the_documented_error(api: dict[str, Any], document: dict[str, Any]) -> None:
    answers = [
        api["alice"].post("/api/flows/", {"name": ""}, format="json"),  # 400 with fields
        api["alice"].post("/api/flows/", "{not json", content_type="application/json"),  # 400 parse error
        api["anonymous"].get("/api/flows/"),  # 401
        api["alice"].post("/api/users/", {"username": "x", "password": "y"}, format="json"),  # 403
        api["alice"].get("/api/flows/00000000-0000-0000-0000-000000000000/"),  # 404
        api["alice"].post("/api/flows/", "name=x", content_type="application/x-www-form-urlencoded"),  # 415
    ]
    assert [answer.status_code for answer in answers] == [400, 400, 401, 403, 404, 415]
    validate_against(document, "Error", *(answer.json() for answer in answers))


def validate_against(document: dict[str, Any], component: str, *instances: Any) -> None:
    """Validate with the document's own components (OpenAPI 3.0 `nullable` read as JSON Schema's null type)."""
    schemas = json.loads(json.dumps(document["components"]["schemas"]).replace("#/components/schemas/", "#/$defs/"))
    for schema in _subschemas(schemas):
        if schema.pop("nullable", False) and "type" in schema:
            schema["type"] = [schema["type"], "null"]
    validator = jsonschema.Draft202012Validator({"$ref": f"#/$defs/{component}", "$defs": schemas})
    for instance in instances:
        validator.validate(instance)


def _subschemas(node: Any) -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = []
    if isinstance(node, dict):
        found.append(node)
        for value in node.values():
            found += _subschemas(value)
    elif isinstance(node, list):
        for value in node:
            found += _subschemas(value)
    return found


def test_the_designers_api_types_are_generated_from_the_current_schema() -> None:
    """frontend/src/api/schema.gen.ts is what `make api-types` makes from the schema now: a serializer change that
    was not carried to the designer fails here (and, once regenerated, fails the designer's typecheck where a field
    list must follow: frontend/src/graph/model.ts)."""
    import os
    import subprocess
    import sys
    import tempfile
    from pathlib import Path

    from backend.api.types import BASE_DIR, FRONTEND

    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "schema.gen.ts"
        # In a fresh interpreter, as `make api-types` runs it (the schema of a process that served other tests can
        # differ in the order of its components).
        subprocess.run(
            [sys.executable, "-m", "backend.api.types", str(out)],
            cwd=BASE_DIR,
            # As `make api-types` runs it: servers that are never dialled (the schema must not depend on a database:
            # with one, a view's queryset could be read and add filters the file does not have).
            env={
                **os.environ,
                "DJANGO_SETTINGS_MODULE": "backend.settings.test",
                "DATABASE_URL": "postgres://schema@127.0.0.1:1/schema",
                "REDIS_URL": "redis://127.0.0.1:1/0",
            },
            check=True,
            capture_output=True,
            timeout=120,
        )
        made = out.read_text()
    committed = (FRONTEND / "src" / "api" / "schema.gen.ts").read_text()
    assert made == committed, "the API changed: run `make api-types` and commit frontend/src/api/schema.gen.ts"
