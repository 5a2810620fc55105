from __future__ import annotations

import pytest

from tests.api.client import ApiClient
from tests.org.matrix import module_transaction, standard_org


@pytest.fixture(scope="module", autouse=True)
def _organisation_once_per_module(django_db_setup, django_db_blocker):
    """Build the standard organisation once per module, not once per test: `org` then finds
    it in place."""
    with module_transaction(django_db_blocker):
        with django_db_blocker.unblock():
            standard_org()
        yield


@pytest.fixture
def api_as():
    """api_as(user) -> an ApiClient authenticated as `user`."""
    return ApiClient
