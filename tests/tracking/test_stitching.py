"""Identity stitching: identifiers seen together become one profile, whatever order the
events arrive in; merges are recorded; shared identifiers do not glue people together."""

from __future__ import annotations

from collections import defaultdict

import pytest
from django.conf import settings
from django.db import transaction
from django.utils import timezone
from hypothesis import HealthCheck, given
from hypothesis import settings as hsettings
from hypothesis import strategies as st

from marketloop.tracking.identifiers import Identifier, Sighting
from marketloop.tracking.models import Identity, Profile, ProfileChange, Touchpoint
from marketloop.tracking.processing import process_inbox
from marketloop.tracking.stitching import stitch
from tests.factories import AccountFactory, ContactFactory
from tests.tracking.conftest import event, post_batch

pytestmark = pytest.mark.django_db


def sighting(*identifiers: Identifier, evidence: str = "identify") -> Sighting:
    return Sighting(anchor=identifiers[0], identifiers=tuple(identifiers), evidence=evidence,
                    message_id=f"m-{'-'.join(v for _k, v in identifiers)}")


def partition() -> frozenset[frozenset[str]]:
    groups: dict[int, set[str]] = defaultdict(set)
    for kind, value, profile_id in Identity.objects.values_list("kind", "value", "profile_id"):
        groups[profile_id].add(f"{kind}:{value}")
    return frozenset(frozenset(g) for g in groups.values())


def oracle(sightings: list[Sighting]) -> frozenset[frozenset[str]]:
    """The rule, written independently of stitching.py: connect identifiers seen together,
    except through identifiers linked to more distinct identifiers of a kind than allowed."""
    nodes = {f"{k}:{v}" for s in sightings for k, v in s.identifiers}
    edges = {tuple(sorted((f"{a[0]}:{a[1]}", f"{b[0]}:{b[1]}")))
             for s in sightings for i, a in enumerate(s.identifiers)
             for b in s.identifiers[i + 1:] if a != b}
    neighbours: dict[str, set[str]] = defaultdict(set)
    for a, b in edges:
        neighbours[a].add(b)
        neighbours[b].add(a)
    limits = settings.TRACKING_SHARED_LIMITS
    shared = set()
    for node in nodes:
        kind = node.split(":", 1)[0]
        for other_kind, limit in limits.get(kind, {}).items():
            if sum(1 for n in neighbours[node] if n.startswith(other_kind + ":")) > limit:
                shared.add(node)
    group = {n: {n} for n in nodes}
    for a, b in edges:
        if a in shared or b in shared or group[a] is group[b]:
            continue
        merged = group[a] | group[b]
        for n in merged:
            group[n] = merged
    return frozenset(frozenset(g) for g in group.values())


def person(n: int) -> dict[str, Identifier]:
    return {"anon": ("anonymous", f"a{n}"), "anon2": ("anonymous", f"b{n}"),
            "user": ("user", f"u{n}"), "email": ("email", f"p{n}@corp{n}.cn"),
            "mobile": ("mobile", f"+86139000000{n:02d}")}


OFFICE_PHONE = ("mobile", "+862087654321")


def scenario() -> list[Sighting]:
    """Five people: page views before identifying, identify on a second device, a form on a
    third; all five put the same office phone in a form (it must not merge them); persons 0
    and 1 share a kiosk browser that both signed in on (it must not merge them either)."""
    events = []
    for n in range(5):
        p = person(n)
        events += [sighting(p["anon"], evidence="page"), sighting(p["anon"], evidence="page"),
                   sighting(p["user"], p["anon"], p["email"]),
                   sighting(p["anon2"], evidence="page"),
                   sighting(p["anon2"], p["email"], evidence="form"),
                   sighting(("anonymous", f"c{n}"), p["email"], OFFICE_PHONE, evidence="form")]
    kiosk = ("anonymous", "kiosk")
    events += [sighting(person(0)["user"], kiosk), sighting(person(1)["user"], kiosk),
               sighting(kiosk, evidence="page")]
    return events


SCENARIO = scenario()


def run(sightings: list[Sighting], chunks: list[int]) -> frozenset[frozenset[str]]:
    position, index = 0, 0
    while position < len(sightings):
        size = chunks[index % len(chunks)] if chunks else len(sightings)
        stitch(sightings[position:position + size], at=timezone.now())
        position += size
        index += 1
    return partition()


class Rollback(Exception):
    pass


@hsettings(max_examples=40, deadline=None,
           suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(order=st.permutations(SCENARIO), chunks=st.lists(st.integers(1, 7), max_size=6))
def test_any_order_and_batching_stitches_the_same_profiles(org, order, chunks):
    expected = oracle(SCENARIO)
    try:
        with transaction.atomic():
            assert run(list(order), chunks) == expected
            raise Rollback
    except Rollback:
        pass


def test_the_scenario_stitches_each_person_once_and_keeps_shared_ids_apart(org):
    result = run(SCENARIO, [4])
    for n in range(5):
        p = person(n)
        assert frozenset({f"{k}:{v}" for k, v in (p["anon"], p["anon2"], p["user"], p["email"],
                                                  ("anonymous", f"c{n}"))}) in result
    assert frozenset({f"mobile:{OFFICE_PHONE[1]}"}) in result
    assert frozenset({"anonymous:kiosk"}) in result
    office = Identity.objects.get(kind="mobile", value=OFFICE_PHONE[1])
    assert office.shared and "email" in office.shared_reason
    assert Identity.objects.get(value="kiosk").shared


def test_merge_moves_touchpoints_and_traits_and_is_recorded(client, source):
    # A visitor browses anonymously, later signs up on another device, then identifies on
    # the first: two profiles become one.
    post_batch(client, source, [
        event("page", anonymousId="browser-1", name="Pricing"),
        event("identify", userId="u-42", traits={"name": "李雷", "title": "CIO"}),
    ])
    while process_inbox():
        pass
    assert Profile.objects.filter(merged_into=None).count() == 2
    post_batch(client, source, [event("identify", userId="u-42", anonymousId="browser-1",
                                      traits={"company": "华南制造"})])
    while process_inbox():
        pass
    survivor = Profile.objects.get(merged_into=None)
    assert set(Identity.objects.filter(profile=survivor).values_list("value", flat=True)) == {
        "browser-1", "u-42"}
    assert Touchpoint.objects.filter(identity__profile=survivor).count() == 3
    assert survivor.traits == {"name": "李雷", "title": "CIO", "company": "华南制造"}
    change = ProfileChange.objects.get(kind="merge")
    assert change.survivor == survivor
    assert Profile.objects.get(pk=change.other_id).merged_into == survivor
    link = change.evidence["links"][0]
    assert set(link["identifiers"]) == {"user:u-42", "anonymous:browser-1"}
    assert link["evidence"] == "identify"


def test_identify_before_the_page_views_it_explains(client, source):
    """Out of order: the identify is processed first, the page views later; they end in the
    same profile as in order."""
    post_batch(client, source, [event("identify", userId="u-7", anonymousId="anon-7",
                                      traits={"email": "Wang.Wei@Huanan.cn"})])
    while process_inbox():
        pass
    post_batch(client, source, [event("page", anonymousId="anon-7", name=f"p{i}")
                                for i in range(3)])
    while process_inbox():
        pass
    profile = Profile.objects.get(merged_into=None)
    assert Touchpoint.objects.filter(identity__profile=profile).count() == 4
    assert Identity.objects.get(kind="email").value == "wang.wei@huanan.cn"


def test_profile_links_to_the_crm_contact_by_email_or_mobile(client, source, org):
    account = AccountFactory(owner_unit=org.gd_sales)
    by_email = ContactFactory(account=account, email="zhang@huanan.cn", mobile="")
    by_mobile = ContactFactory(account=account, email="", mobile="+8613912345678")
    post_batch(client, source, [
        event("identify", anonymousId="x1", traits={"email": "ZHANG@huanan.cn"}),
        event("identify", anonymousId="x2", traits={"phone": "139 1234 5678"}),
    ])
    while process_inbox():
        pass
    first = Identity.objects.get(value="x1").profile
    second = Identity.objects.get(value="x2").profile
    assert first.contact == by_email and first.account == account
    assert second.contact == by_mobile
    assert (first.owner_unit_id, first.partner_id, first.owner_id) == (
        by_email.owner_unit_id, by_email.partner_id, by_email.owner_id)


def test_a_contact_created_later_claims_its_profile(client, source, org, admin_user,
                                                   django_capture_on_commit_callbacks):
    from marketloop.crm.services import create_contact

    post_batch(client, source, [event("identify", anonymousId="late",
                                      traits={"email": "late@huanan.cn"})])
    while process_inbox():
        pass
    profile = Identity.objects.get(value="late").profile
    assert profile.contact is None and profile.owner_unit == org.hq_marketing
    account = AccountFactory(owner_unit=org.gd_sales)
    with django_capture_on_commit_callbacks(execute=True):
        contact = create_contact(actor=admin_user, account=account, name="迟到",
                                 email="late@huanan.cn")
    profile.refresh_from_db()
    assert profile.contact == contact
    assert profile.owner_unit_id == contact.owner_unit_id


def test_unknown_business_domain_suggests_an_account(client, source, org):
    account = AccountFactory(owner_unit=org.gd_sales)
    ContactFactory(account=account, email="known@bigcorp.cn")
    ContactFactory(account=account, email="other@bigcorp.cn")
    post_batch(client, source, [
        event("identify", anonymousId="n1", traits={"email": "new.person@bigcorp.cn"}),
        event("identify", anonymousId="n2", traits={"email": "someone@qq.com"}),
    ])
    while process_inbox():
        pass
    assert Identity.objects.get(value="n1").profile.suggested_account == account
    assert Identity.objects.get(value="n2").profile.suggested_account is None


def test_blocked_test_address_links_nobody(client, source):
    post_batch(client, source, [
        event("identify", anonymousId="t1", traits={"email": "test@test.com"}),
        event("identify", anonymousId="t2", traits={"email": "test@test.com"}),
    ])
    while process_inbox():
        pass
    assert Identity.objects.get(value="t1").profile != Identity.objects.get(value="t2").profile
    assert Identity.objects.get(kind="email").shared


def test_shared_identifier_found_later_splits_what_it_had_glued(org):
    phone = ("mobile", "+862088888888")
    stitch([sighting(("anonymous", "s0"), ("email", "e0@x.cn"), phone)], at=timezone.now())
    stitch([sighting(("anonymous", "s1"), ("email", "e1@x.cn"), phone)], at=timezone.now())
    glued = Identity.objects.get(value="s0").profile_id
    assert Identity.objects.get(value="s1").profile_id == glued  # not yet known to be shared
    for n in range(2, 5):
        stitch([sighting(("anonymous", f"s{n}"), ("email", f"e{n}@x.cn"), phone)],
               at=timezone.now())
    assert Identity.objects.get(value=phone[1]).shared
    profiles = {Identity.objects.get(value=f"s{n}").profile_id for n in range(5)}
    assert len(profiles) == 5
    split = ProfileChange.objects.filter(kind="split")
    assert split.exists()
    assert f"mobile:{phone[1]}" in split.first().evidence["shared"]
