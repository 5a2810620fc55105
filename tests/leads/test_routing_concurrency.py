"""Two workers routing the same MQLs at once (separate database connections) assign every
lead exactly once, and the per-person loads they count stay even."""

from __future__ import annotations

import threading
from collections import Counter

import pytest
from django.db import connection, transaction

from marketloop.leads import services
from marketloop.leads.models import Assignment, Lead, Stage
from marketloop.org.models import Role
from tests.factories import AccountFactory, ContactFactory


@pytest.mark.django_db(transaction=True)
def test_two_workers_routing_the_same_mqls_at_once_assign_each_once_and_evenly(
        org, make_user):
    reps = [make_user(org.gd_sales, Role.SALES_REP) for _ in range(4)]
    Lead.objects.create(name="held", stage=Stage.SAL, owner=reps[0],
                        owner_unit=org.gd_sales)  # one rep starts with a lead
    contacts = [ContactFactory(account=AccountFactory(owner_unit=org.gd_sales))
                for _ in range(40)]
    ids = [Lead.objects.create(name=f"mql {i}", stage=Stage.MQL, contact=c, account=c.account,
                               owner_unit=org.hq_marketing).pk
           for i, c in enumerate(contacts)]
    start = threading.Barrier(2)
    routed: list[int] = []
    errors: list[BaseException] = []

    def worker(order: list[int]) -> None:
        try:
            start.wait()
            routed.append(services.route_leads(lead_ids=order))
        except BaseException as exc:  # surfaced below
            errors.append(exc)
        finally:
            connection.close()  # each thread has its own connection

    threads = [threading.Thread(target=worker, args=(ids,)),
               threading.Thread(target=worker, args=(list(reversed(ids)),))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)

    assert not errors, errors
    assert sum(routed) == len(ids)
    per_lead = Counter(Assignment.objects.filter(lead_id__in=ids).values_list("lead_id",
                                                                               flat=True))
    assert set(per_lead.values()) == {1} and set(per_lead) == set(ids)
    loads = Counter(Lead.objects.filter(stage__in=[Stage.MQL, Stage.SAL], owner__in=reps)
                    .values_list("owner_id", flat=True))
    assert sum(loads.values()) == len(ids) + 1
    assert max(loads.values()) - min(loads[rep.pk] for rep in reps) <= 1


@pytest.mark.django_db(transaction=True)
def test_an_assignment_in_progress_holds_its_team_so_the_next_counts_it(org, make_user):
    """Two reps with equal loads: while one transaction has routed a lead and not committed,
    a second routing in the same team waits, then counts that lead and picks the other rep
    (without the team's lock both would pick the same one)."""
    reps = [make_user(org.gd_sales, Role.SALES_REP) for _ in range(2)]
    first, second = (Lead.objects.create(
        name=f"mql {i}", stage=Stage.MQL, contact=c, account=c.account,
        owner_unit=org.hq_marketing).pk
        for i, c in enumerate(ContactFactory(account=AccountFactory(owner_unit=org.gd_sales))
                              for _ in range(2)))
    routed_first = threading.Event()
    owners: dict[str, int] = {}
    errors: list[BaseException] = []

    def hold_then_commit() -> None:
        try:
            with transaction.atomic():
                owners["first"] = services.route_lead(lead_id=first).owner_id
                routed_first.set()
                _wait_until_someone_waits_for_a_lock()
        except BaseException as exc:
            errors.append(exc)
        finally:
            routed_first.set()
            connection.close()

    def route_second() -> None:
        try:
            routed_first.wait(30)
            owners["second"] = services.route_lead(lead_id=second).owner_id
        except BaseException as exc:
            errors.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=hold_then_commit), threading.Thread(target=route_second)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)

    assert not errors, errors
    assert {owners["first"], owners["second"]} == {rep.pk for rep in reps}


def _wait_until_someone_waits_for_a_lock(timeout: float = 20.0) -> None:
    """Poll (on a connection of its own) until another backend waits on a lock."""
    import time

    from django.db import connections

    deadline = time.monotonic() + timeout
    probe = connections.create_connection("default")
    try:
        while time.monotonic() < deadline:
            with probe.cursor() as cursor:
                cursor.execute("SELECT count(*) FROM pg_stat_activity "
                               "WHERE wait_event_type = 'Lock' AND datname = current_database()")
                if cursor.fetchone()[0]:
                    return
            time.sleep(0.01)
        raise AssertionError("the second routing never waited for the team's lock")
    finally:
        probe.close()
