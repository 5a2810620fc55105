"""Scores end to end: touchpoints recorded and processed for real, the scoring job run by a
real worker, and the stored numbers checked against a case computed by hand (daily caps,
decay, several rules on one touchpoint, the look-back, fit from contact and account)."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.db import connection

from marketloop import bus
from marketloop.crm.models import Industry, Tier
from marketloop.scoring import services
from marketloop.scoring.events import ScoresChanged
from marketloop.scoring.models import AccountScore, RescoreRun, Score
from marketloop.tracking.models import Profile
from tests.factories import AccountFactory, ContactFactory
from tests.scoring.conftest import event, local_noon, record

pytestmark = pytest.mark.django_db(transaction=True)

# Age 29 is the oldest day a 30-day look-back counts; its page view decays by 0.5 ** 2.9.
OLDEST_PAGE_VIEW = round(0.5 ** 2.9 * 1_000_000) / 1_000_000


@pytest.fixture
def cio(org):
    account = AccountFactory(owner_unit=org.gd_sales, province=org.gd, tier=Tier.HQ_STRATEGIC,
                             industry=Industry.objects.get(code="manufacturing"),
                             revenue_band="medium")
    return ContactFactory(account=account, title="CIO 信息中心", is_management=True)


def cio_events(contact_id: int) -> list[dict]:
    person = f"anon-{contact_id}"
    today, ten, twenty = local_noon(0), local_noon(10), local_noon(20)
    return [
        # Today: five pricing-page views. Page view +1 capped at 3 a day; pricing +10 capped
        # at 20 a day: 3 + 20, no decay.
        *[event("page", person=person, at=today, contact_id=contact_id,
                url=f"https://www.example.cn/pricing?v={i}") for i in range(5)],
        # Ten days ago (one half-life): the careers page (page view +1, careers -5) and a
        # form (+20): (1 - 5 + 20) / 2 = 8.
        event("page", person=person, at=ten, url="https://www.example.cn/careers"),
        event("form", person=person, at=ten, email="cio@corp.example.cn"),
        # Twenty days ago: the white paper (+8, a quarter left: 2) and another file (nothing).
        event("download", person=person, at=twenty, file="wp.pdf"),
        event("download", person=person, at=twenty, file="other.pdf"),
        # The last day the look-back counts, and one before it (nothing).
        event("page", person=person, at=local_noon(29), url="https://www.example.cn/about"),
        event("page", person=person, at=local_noon(30), url="https://www.example.cn/about"),
    ]


def test_new_touchpoints_give_the_hand_computed_score(scoring_model, source, cio,
                                                      run_scoring_jobs):
    record(source, cio_events(cio.pk))
    run_scoring_jobs()

    profile = Profile.objects.get(contact=cio)
    score = Score.objects.get(profile_id=profile.pk)
    # tier HQ strategic 30 + title contains "cio" 15 + management 10 + manufacturing 5 +
    # Guangdong 7; revenue band "medium" and "not management" match nothing.
    assert score.fit == 67
    assert score.engagement == 23 + 8 + 2 + OLDEST_PAGE_VIEW
    assert score.total == 67 + score.engagement
    assert score.account_id == cio.account_id

    roll_up = AccountScore.objects.get(account_id=cio.account_id)
    assert (roll_up.fit, roll_up.engagement, roll_up.profiles) == (42, score.engagement, 1)


def test_a_merge_drops_the_absorbed_score_and_caps_the_survivors_day_as_one(
        scoring_model, source, org, run_scoring_jobs):
    today = local_noon(0)
    record(source, [event("page", person="laptop", at=today, url="/a") for _ in range(3)]
           + [event("page", person="phone", at=today, url="/b") for _ in range(2)])
    run_scoring_jobs()
    laptop, phone = (Profile.objects.get(identities__value=v) for v in ("laptop", "phone"))
    assert {s.profile_id: s.engagement for s in Score.objects.all()} == {laptop.pk: 3,
                                                                          phone.pk: 2}

    # The same email on both devices proves them one person: a merge.
    record(source, [event("form", person=device, at=today, email="same@corp.example.cn")
                    for device in ("laptop", "phone")])
    run_scoring_jobs()

    survivor = Profile.objects.get(identities__value="laptop")
    assert Profile.objects.get(identities__value="phone") == survivor
    scores = {s.profile_id: s.engagement for s in Score.objects.all()}
    # Five page views today but the page-view cap is 3 a day; and two forms (+20 each).
    assert scores == {survivor.pk: 3 + 40}


def _scores() -> dict[int, tuple]:
    return {s.profile_id: (s.account_id, s.fit, s.engagement, s.total)
            for s in Score.objects.all()}


def _rollups() -> dict[int, tuple]:
    return {a.account_id: (a.fit, a.engagement, a.total, a.profiles)
            for a in AccountScore.objects.all()}


def test_a_full_rescore_gives_exactly_the_incremental_numbers(scoring_model, source, org,
                                                             run_scoring_jobs):
    accounts = [AccountFactory(owner_unit=org.gd_sales, province=org.gd, tier=tier)
                for tier in (Tier.HQ_STRATEGIC, Tier.ORDINARY)]
    contacts = [ContactFactory(account=accounts[i % 2], title=title, is_management=i % 3 == 0)
                for i, title in enumerate(["CIO", "工程师", "cio助理", "经理", "实习生"])]
    events = []
    for i, contact in enumerate(contacts):
        for days in range(0, 45, 3 + i):
            at = local_noon(days)
            events.append(event("page", person=f"p{i}", at=at, contact_id=contact.pk,
                                url="https://x.example.cn/pricing" if days % 2 else "/home"))
            if days % 5 == 0:
                events.append(event("form", person=f"p{i}", at=at))
            if days % 7 == 0:
                events.append(event("download", person=f"p{i}", at=at, file="wp.pdf"))
    events += [event("page", person="anonymous-only", at=local_noon(d), url="/careers")
               for d in (1, 1, 2)]
    record(source, events)
    run_scoring_jobs()
    incremental, rollups = _scores(), _rollups()
    assert len(incremental) == 6 and len(rollups) == 2
    assert any(engagement % 1 for _, _, engagement, _ in incremental.values())  # decayed

    with connection.cursor() as cursor:
        cursor.execute("DELETE FROM scoring_score; DELETE FROM scoring_accountscore")
    run = services.request_rescore(actor=None, cause="test")
    run_scoring_jobs()

    run.refresh_from_db()
    assert run.status == RescoreRun.Status.DONE
    assert run.processed == run.total > 2 and run.profiles == 6 and run.changed == 6
    assert _scores() == incremental
    assert _rollups() == rollups


def test_decay_moves_scores_in_the_nightly_full_run(scoring_model, source, org,
                                                   run_scoring_jobs):
    record(source, [event("form", person="p", at=local_noon(0))])
    run_scoring_jobs()
    profile = Profile.objects.get(identities__value="p")
    assert Score.objects.get(profile_id=profile.pk).engagement == 20

    # Ten days on (one half-life) the nightly run halves it; after the look-back, nothing.
    later = Score.objects.get(profile_id=profile.pk).computed_at + timedelta(days=10)
    run = RescoreRun.objects.create(cause="nightly")
    assert services.run_rescore(run_id=run.pk, at=later).changed == 1
    assert Score.objects.get(profile_id=profile.pk).engagement == 10
    run = RescoreRun.objects.create(cause="nightly")
    services.run_rescore(run_id=run.pk, at=later + timedelta(days=30))
    assert Score.objects.get(profile_id=profile.pk).engagement == 0


def test_the_nightly_job_rescores_everyone(scoring_model, org):
    from marketloop.scoring.tasks import nightly_rescore

    nightly_rescore(timestamp=0)
    run = RescoreRun.objects.get()
    assert (run.status, run.cause) == (RescoreRun.Status.DONE, "Nightly re-score (decay)")


def test_scores_changed_names_the_rescored_profiles(scoring_model, source, org,
                                                    run_scoring_jobs):
    seen: list[tuple[int, ...]] = []
    bus.subscribe(ScoresChanged, lambda event: seen.append(event.profile_ids))
    try:
        record(source, [event("page", person="q", at=local_noon(0), url="/")])
        run_scoring_jobs()
    finally:
        bus._handlers[ScoresChanged].pop()
    assert seen == [(Profile.objects.get(identities__value="q").pk,)]


def test_a_visitor_who_becomes_a_contact_gets_the_contacts_fit(scoring_model, source, org,
                                                               admin_user, run_scoring_jobs):
    from marketloop.crm import services as crm

    record(source, [event("form", person="v", at=local_noon(0), email="wang@corp.example.cn")])
    run_scoring_jobs()
    profile = Profile.objects.get(identities__value="v")
    assert Score.objects.get(profile_id=profile.pk).fit == 0

    account = AccountFactory(owner_unit=org.gd_sales, province=org.gd, tier=Tier.HQ_STRATEGIC,
                             industry=Industry.objects.get(code="finance"))
    crm.create_contact(actor=admin_user, account=account, name="王", title="CIO",
                       email="wang@corp.example.cn")
    run_scoring_jobs()
    # tier 30, title 15, Guangdong 7, not management -3
    assert Score.objects.get(profile_id=profile.pk).fit == 49
    assert AccountScore.objects.get(account_id=account.pk).profiles == 1


def test_a_new_title_changes_the_fit_within_a_job(scoring_model, source, cio, admin_user,
                                                   run_scoring_jobs):
    from marketloop.crm import services as crm

    record(source, [event("form", person="c", at=local_noon(0), contact_id=cio.pk)])
    run_scoring_jobs()
    profile = Profile.objects.get(contact=cio)
    # tier 30, title "CIO" 15, management 10, manufacturing 5, Guangdong 7
    assert Score.objects.get(profile_id=profile.pk).fit == 67
    crm.update_contact(actor=admin_user, contact=cio, title="采购专员", is_management=False)
    run_scoring_jobs()
    # the title no longer matches (-15) and not management: -3 instead of +10
    assert Score.objects.get(profile_id=profile.pk).fit == 67 - 15 - 10 - 3
