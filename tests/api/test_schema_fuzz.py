"""A bounded property test: schemathesis generates requests from the OpenAPI document (valid
and invalid) and checks that no response is a server error and every response matches the
document (status code, content type, body schema)."""

from __future__ import annotations

import pytest

schemathesis = pytest.importorskip("schemathesis")
from django.core.signals import request_finished, request_started  # noqa: E402
from django.core.wsgi import get_wsgi_application  # noqa: E402
from django.db import close_old_connections  # noqa: E402
from hypothesis import HealthCheck, settings  # noqa: E402
from schemathesis.specs.openapi.checks import positive_data_acceptance  # noqa: E402

from marketloop.api import api  # noqa: E402
from marketloop.org.models import Role  # noqa: E402
from marketloop.org.services import issue_api_token  # noqa: E402
from tests.factories import AccountFactory, ContactFactory  # noqa: E402

schema = schemathesis.openapi.from_dict(api.get_openapi_schema())
schema.app = get_wsgi_application()


@pytest.fixture
def token(org, make_user) -> str:
    """A province manager's token (may create and edit), with a few rows in scope. Requests go
    through the WSGI app inside the test's transaction so, as in Django's test client, the app
    must not close the connection when a request ends."""
    account = AccountFactory(owner_unit=org.gd_sales, industry_rank=300)
    ContactFactory(account=account)
    request_started.disconnect(close_old_connections)
    request_finished.disconnect(close_old_connections)
    try:
        yield issue_api_token(user=make_user(org.gd, Role.MANAGER), name="fuzz")[1]
    finally:
        request_started.connect(close_old_connections)
        request_finished.connect(close_old_connections)


@schema.parametrize()
@settings(max_examples=10, deadline=None, derandomize=True,
          suppress_health_check=list(HealthCheck))
def test_api_conforms_to_its_schema(case, token):
    # "Schema-valid data is accepted" cannot hold: ids and codes that exist, a credit code's
    # check digit or a free email are facts of the database, not of the schema (422 by design).
    case.call_and_validate(headers={"Authorization": f"Bearer {token}"},
                           excluded_checks=[positive_data_acceptance])
