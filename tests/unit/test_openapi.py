"""The OpenAPI document keeps its word: it validates, it lists every route of the API and no
other, every protected operation declares its security, 401 and 403, every error code can be
found in it, and the copy in the repository is the one the server serves. (Every answer the
API tests see is checked against it by the ``unit/conftest.py`` fixture.)"""

from __future__ import annotations

import json
import re
from pathlib import Path

from aiohttp.test_utils import TestClient
from openapi_spec_validator import validate

from machete_web import create_app, route_policy
from machete_web.openapi import core_codes, document, document_bytes, operation_keys
from machete_web.openapi.document import route_key

ROOT = Path(__file__).resolve().parents[2]
HOSTS = ROOT / "hosts"


def api_routes() -> set[tuple[str, str]]:
    """The app's own routes under ``/api/`` and ``/health``, read from its router."""
    app = create_app()
    found = set()
    for route in app.router.routes():
        resource = route.resource
        if route.method == "HEAD" or resource is None:
            continue  # aiohttp adds HEAD beside each GET
        path = resource.canonical
        if path.startswith("/api/") or path == "/health":
            found.add((route.method, path))
    return found


def test_the_document_is_a_valid_openapi_3_1_document() -> None:
    doc = document()
    assert doc["openapi"].startswith("3.1")
    validate(doc)


def test_every_route_of_the_api_is_described_and_nothing_else() -> None:
    routes = api_routes()
    assert routes, "the router lists no API routes"
    described = set(operation_keys())
    assert routes - described == set(), "routes the document does not describe"
    assert described - routes == set(), "operations the app does not have"


def test_every_operation_declares_its_security_and_refusals() -> None:
    for path, item in document()["paths"].items():
        for method, op in item.items():
            key = (method.upper(), path)
            policy = route_policy.ROUTES[route_key(*key)]
            assert "security" in op, key
            if policy == route_policy.PUBLIC:
                assert op["security"] == [], key
            else:
                assert op["security"], key
                assert {"401", "403"} <= set(op["responses"]), key
            assert any(s.startswith("2") or s == "101" for s in op["responses"]), key


def test_every_error_code_is_in_the_document() -> None:
    enum = set(document()["components"]["schemas"]["Problem"]["properties"]["error_code"]["enum"])
    assert set(core_codes()) <= enum
    # The web host's own codes, read from its source: every problem(status, "code", ...).
    host = set()
    for source in HOSTS.rglob("*.py"):
        host |= set(re.findall(r'problem\(\s*\d+,\s*"(\w+)"', source.read_text()))
    assert host and host <= enum, host - enum


def test_the_repository_copy_is_current() -> None:
    kept = ROOT / "docs" / "openapi.json"
    assert kept.read_bytes() == document_bytes(), (
        "docs/openapi.json is stale: python -m machete_web.openapi > docs/openapi.json"
    )


def test_docs_link_the_document_and_agree_with_it() -> None:
    text = (ROOT / "docs" / "http.md").read_text()
    assert "/api/openapi.json" in text and "openapi.json" in text
    # Every route docs/http.md names in its table is one the document describes.
    paths = document()["paths"]
    named = set(re.findall(r"`(?:GET|POST|PUT|PATCH|DELETE) (/api/[^`\s?\\]*)", text))
    templated = {re.sub(r"{\w+}", "{}", p) for p in [*paths, *(p for _m, p in operation_keys())]}
    unknown = {p for p in named if re.sub(r"{\w+}|<\w+>", "{}", p) not in templated}
    assert len(named) > 30
    assert not unknown, unknown


async def test_the_server_serves_it_to_anyone(aiohttp_client: object) -> None:
    client: TestClient = await aiohttp_client(create_app())  # type: ignore[operator]
    resp = await client.get("/api/openapi.json")
    assert resp.status == 200
    assert json.loads(await resp.read()) == json.loads(document_bytes())


def test_links_name_operations_and_parameters_that_exist() -> None:
    by_id = {op["operationId"]: op for item in document()["paths"].values() for op in item.values()}
    links = [
        link
        for op in by_id.values()
        for answer in op["responses"].values()
        for link in answer.get("links", {}).values()
    ]
    assert len(links) > 10
    for link in links:
        target = by_id[link["operationId"]]
        names = {p["name"] for p in target.get("parameters", [])}
        assert set(link["parameters"]) <= names, link
