from __future__ import annotations

import pytest

from marketloop.sales.reference import ensure_reference_data
from tests.org.matrix import module_transaction, standard_org


@pytest.fixture(scope="module")
def organisation_once(django_db_setup, django_db_blocker):
    """Build the standard organisation (and the products and competitors, which a transactional
    test's flush removes) once per module, not once per test: `org` then finds it in place.
    Modules opt in (pytestmark); not for modules with transactional tests."""
    with module_transaction(django_db_blocker):
        with django_db_blocker.unblock():
            standard_org()
            ensure_reference_data()
        yield
