"""Two people at once (separate database connections): two spends that each fit the approved
budget but not together, and two approvals that each fit the plan's budget but not together.
Exactly one of each goes through; the rows lock, so nothing overspends."""

from __future__ import annotations

import threading
from collections.abc import Callable
from datetime import date
from decimal import Decimal

import pytest
from django.db import connection

from marketloop.campaigns import budget
from marketloop.campaigns.errors import CampaignError, CampaignErrorCode
from marketloop.campaigns.models import Activity, RequestStatus
from marketloop.org.models import Role
from tests.campaigns.factories import (  # noqa: F401  (a fixture)
    ActivityFactory,
    BudgetRequestFactory,
    PlanFactory,
    fast_passwords,
)

pytestmark = [pytest.mark.django_db(transaction=True),
              pytest.mark.usefixtures("fast_passwords")]


def at_once(*work: Callable[[], object]) -> tuple[list[object], list[BaseException]]:
    """Run each callable in its own thread (and connection), started together."""
    start = threading.Barrier(len(work))
    done: list[object] = []
    errors: list[BaseException] = []

    def run(job: Callable[[], object]) -> None:
        try:
            start.wait()
            done.append(job())
        except BaseException as exc:  # surfaced to the test
            errors.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=run, args=(job,)) for job in work]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    return done, errors


def test_two_spends_at_once_cannot_overspend_the_approved_budget(org, make_user):
    owner = make_user(org.gd, Role.MANAGER)
    marketers = [make_user(org.gd_sales, Role.MARKETER) for _ in range(2)]
    salon = ActivityFactory(plan=PlanFactory(owner_unit=org.gd, owner=owner),
                            approved_budget=Decimal("1000"))

    def spend(user):
        return lambda: budget.record_spend(user=user, activity_id=salon.pk, amount="600",
                                           spent_on=date(2026, 7, 1), description="场地")

    done, errors = at_once(*(spend(user) for user in marketers))
    assert len(done) == 1 and len(errors) == 1
    assert isinstance(errors[0], CampaignError)
    assert errors[0].code == CampaignErrorCode.OVER_APPROVED_BUDGET
    assert "400.00" in errors[0].message  # what the first left
    salon.refresh_from_db()
    assert salon.spent == Decimal("600.00") and salon.spend.count() == 1


def test_two_approvals_at_once_cannot_exceed_the_plans_budget(org, make_user):
    owner = make_user(org.gd, Role.MANAGER)
    admin = make_user(org.hq, Role.ADMINISTRATOR)
    plan = PlanFactory(owner_unit=org.gd, owner=owner, budget=Decimal("1000"))
    requests = [BudgetRequestFactory(activity=ActivityFactory(plan=plan), amount=Decimal("600"))
                for _ in range(2)]

    def approve(user, request):
        return lambda: budget.decide_budget_request(user=user, request_id=request.pk,
                                                    approve=True)

    done, errors = at_once(approve(owner, requests[0]), approve(admin, requests[1]))
    assert len(done) == 1 and len(errors) == 1
    assert isinstance(errors[0], CampaignError)
    assert errors[0].code == CampaignErrorCode.OVER_PLAN_BUDGET
    approved = Activity.objects.filter(plan=plan).values_list("approved_budget", flat=True)
    assert sorted(approved) == [Decimal("0.00"), Decimal("600.00")]
    statuses = {r.status for r in type(requests[0]).objects.filter(activity__plan=plan)}
    assert statuses == {RequestStatus.APPROVED, RequestStatus.PENDING}
