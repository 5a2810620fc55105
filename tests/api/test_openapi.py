"""The OpenAPI 3 document at /api/openapi.json describes every route the clients use."""

from __future__ import annotations

import json
import re

import pytest
from django.test import Client
from django.urls import resolve

# Every call the API tests make, as a client would write it.
CALLS = [
    ("get", "/api/accounts"), ("post", "/api/accounts"), ("get", "/api/accounts/12"),
    ("patch", "/api/accounts/12"), ("get", "/api/contacts"), ("post", "/api/contacts"),
    ("get", "/api/contacts/7"), ("patch", "/api/contacts/7"), ("get", "/api/contacts/7/consents"),
    ("post", "/api/contacts/7/consents"), ("get", "/api/industries"), ("get", "/api/tier-rules"),
    ("get", "/api/org/units"), ("get", "/api/org/me"),
    ("get", "/api/contacts/7/touchpoints"), ("get", "/api/accounts/12/touchpoints"),
    ("get", "/api/profiles/3"),
    ("get", "/api/profiles/3/score"), ("get", "/api/accounts/12/score"),
    ("get", "/api/scoring/model"),
    ("get", "/api/funnel"),
    ("get", "/api/plans"), ("post", "/api/plans"), ("get", "/api/plans/2"),
    ("patch", "/api/plans/2"), ("get", "/api/activities"), ("post", "/api/activities"),
    ("get", "/api/activities/6"), ("patch", "/api/activities/6"),
    ("post", "/api/activities/6/budget-requests"), ("post", "/api/budget-requests/3/decision"),
    ("get", "/api/activities/6/spend"), ("post", "/api/activities/6/spend"),
    ("get", "/api/campaigns/report"), ("get", "/api/activities/6/results"),
    ("get", "/api/activities/6/members"), ("post", "/api/activities/6/members"),
    ("get", "/api/activities/6/links"), ("post", "/api/activities/6/links"),
    ("delete", "/api/links/8"),
    ("get", "/api/attribution/settings"), ("put", "/api/attribution/settings"),
    ("post", "/api/attribution/runs"), ("get", "/api/attribution/runs/1"),
    ("get", "/api/opportunities/9/journey"), ("get", "/api/leads/5/journey"),
    ("get", "/api/leads"), ("get", "/api/leads/5"), ("post", "/api/leads/5/accept"),
    ("post", "/api/leads/5/reject"), ("post", "/api/leads/5/qualify"), ("post", "/api/leads"),
    ("get", "/api/opportunities"), ("post", "/api/opportunities"), ("get", "/api/opportunities/9"),
    ("patch", "/api/opportunities/9"), ("post", "/api/opportunities/9/stage"),
    ("post", "/api/opportunities/9/team"), ("delete", "/api/opportunities/9/team/4"),
]


@pytest.fixture
def document(db) -> dict:
    response = Client().get("/api/openapi.json")  # public: the contract is not a secret
    assert response.status_code == 200
    return json.loads(response.content)


def _template_for(document: dict, path: str) -> str | None:
    for template in document["paths"]:
        pattern = "^" + re.sub(r"\{[^}]+\}", r"[^/]+", template) + "$"
        if re.match(pattern, path):
            return template
    return None


def test_it_is_openapi_3(document):
    assert document["openapi"].startswith("3.")
    assert document["info"]["title"] == "marketloop API"


@pytest.mark.parametrize(("method", "path"), CALLS)
def test_every_call_the_clients_make_is_documented(document, method, path):
    template = _template_for(document, path)
    assert template is not None, f"{path} is not in the OpenAPI document"
    assert method in document["paths"][template], f"{method.upper()} {template} is missing"


def test_every_documented_operation_is_a_real_route_with_token_auth(document):
    schemes = document["components"]["securitySchemes"]
    assert schemes["TokenAuth"] == {"type": "http", "scheme": "bearer"}
    operations = 0
    for template, methods in document["paths"].items():
        concrete = re.sub(r"\{[^}]+\}", "1", template)
        resolve(concrete)  # raises Resolver404 if the document lies
        for method, operation in methods.items():
            operations += 1
            assert operation["security"] == [{"TokenAuth": []}], (method, template)
            assert operation.get("summary"), (method, template)
            problem = operation["responses"]["401"]["content"]["application/problem+json"]
            assert problem["schema"] == {"$ref": "#/components/schemas/Problem"}
            assert "422" in operation["responses"]
            if "{" in template:
                assert "404" in operation["responses"]
            if method != "get":
                assert "403" in operation["responses"]
    assert operations == len(CALLS)


def test_operation_ids_are_unique(document):
    ids = [op["operationId"] for methods in document["paths"].values() for op in methods.values()]
    assert len(ids) == len(set(ids))


def test_account_schema_documents_the_promised_fields(document):
    account = document["components"]["schemas"]["AccountOut"]["properties"]
    for field in ("tier", "tier_reason", "owner_unit", "owner", "partner", "province", "industry",
                  "rank", "revenue_band", "credit_code", "parent_id", "updated_at"):
        assert field in account, field
    params = {p["name"] for p in document["paths"]["/api/accounts"]["get"]["parameters"]}
    assert params == {"q", "tier", "industry", "province", "owner", "owner_unit", "sort",
                      "cursor", "limit"}
    limit = next(p for p in document["paths"]["/api/accounts"]["get"]["parameters"]
                 if p["name"] == "limit")
    assert limit["schema"]["maximum"] == 200


def test_no_docs_page_that_would_load_a_cdn(db):
    # Ninja's Swagger page pulls its scripts from a CDN unless ninja is an installed app.
    assert Client().get("/api/docs").status_code == 404
