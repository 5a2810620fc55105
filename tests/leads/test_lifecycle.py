"""The lifecycle: a known person who is scored becomes a lead (a subscriber), and moves to lead
and MQL when the scoring model's thresholds say so; marketers qualify and disqualify by hand;
a customer's new need is handed to sales at once. Every change records from, to, when and the
cause, and nothing moves backwards without one."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from marketloop import bus
from marketloop.audit.models import AuditEntry
from marketloop.crm.models import Tier
from marketloop.leads import lifecycle, services
from marketloop.leads.errors import LeadError, LeadErrorCode
from marketloop.leads.models import Channel, CustomerNeed, Lead, LeadKind, Stage, StageChange
from marketloop.org.errors import NotAllowed
from marketloop.org.models import Role
from marketloop.scoring.events import ScoresChanged
from marketloop.tracking.events import ProfilesMerged
from marketloop.tracking.models import Identity, IdentityKind, Profile
from tests.leads.conftest import (
    LEAD_AT,
    MQL_ENGAGEMENT,
    MQL_FIT,
    person,
    score_to_mql,
    set_score,
)

pytestmark = [pytest.mark.django_db,
              pytest.mark.usefixtures("fast_passwords", "organisation_once")]


def changes_of(lead: Lead) -> list[tuple[str, str, str]]:
    return [(c.from_stage, c.to_stage, c.cause) for c in lead.stage_changes.order_by("id")]


# ---- leads from scores ---------------------------------------------------------------------


def test_a_scored_contact_becomes_a_subscriber_owned_by_hq_marketing(org, model):
    contact, profile = person(org.gd_sales, "周知", tier=Tier.REGIONAL_KEY)
    set_score(profile, fit=5, engagement=LEAD_AT - 1)

    services.apply_scores(profile_ids=[profile.pk])

    lead = Lead.objects.get(profile=profile)
    assert lead.stage == Stage.SUBSCRIBER
    assert lead.name == "周知 · 周知公司"
    assert (lead.contact, lead.account) == (contact, contact.account)
    assert (lead.tier, lead.province) == (Tier.REGIONAL_KEY, org.gd)
    assert lead.owner_unit == org.hq_marketing and lead.owner is None
    assert (lead.fit, lead.engagement) == (5, LEAD_AT - 1)
    first = lead.stage_changes.get()
    assert (first.from_stage, first.to_stage, first.cause) == ("", Stage.SUBSCRIBER, "rule")
    assert first.rule == {"rule": "known_person", "identified_by": "contact"}


def test_engagement_at_the_threshold_makes_a_subscriber_a_lead_with_the_numbers(org, model):
    _contact, profile = person(org.gd_sales)
    set_score(profile, fit=0, engagement=LEAD_AT)

    services.apply_scores(profile_ids=[profile.pk])

    lead = Lead.objects.get(profile=profile)
    assert lead.stage == Stage.LEAD and lead.lead_at is not None
    move = lead.stage_changes.get(to_stage=Stage.LEAD)
    assert (move.from_stage, move.cause) == (Stage.SUBSCRIBER, "rule")
    assert move.rule["engagement"] == LEAD_AT and move.rule["lead_engagement"] == LEAD_AT
    assert move.rule["model"] == "Test model" and move.rule["model_id"] == model.pk


def test_fit_and_engagement_over_the_mql_thresholds_make_an_mql_that_is_routed(org, model,
                                                                             gd_team):
    _contact, profile = person(org.gd_sales)

    lead = score_to_mql(profile)

    assert changes_of(lead) == [("", "subscriber", "rule"), ("subscriber", "lead", "rule"),
                                ("lead", "mql", "rule")]
    mql = lead.stage_changes.get(to_stage=Stage.MQL)
    assert mql.rule["fit"] == MQL_FIT + 5 and mql.rule["mql_fit"] == MQL_FIT
    assert mql.rule["engagement"] == MQL_ENGAGEMENT + 5
    assert mql.rule["mql_engagement"] == MQL_ENGAGEMENT
    assert lead.owner in gd_team.reps and lead.owner_unit == org.gd_sales
    assert lead.mql_at and lead.lead_at and lead.assigned_at


def test_engagement_alone_does_not_make_an_mql(org, model):
    _contact, profile = person(org.gd_sales)
    set_score(profile, fit=MQL_FIT - 1, engagement=MQL_ENGAGEMENT * 3)

    services.apply_scores(profile_ids=[profile.pk])

    assert Lead.objects.get(profile=profile).stage == Stage.LEAD


def test_falling_scores_never_move_a_lead_back(org, model):
    _contact, profile = person(org.gd_sales)
    set_score(profile, fit=0, engagement=LEAD_AT + 5)
    services.apply_scores(profile_ids=[profile.pk])
    set_score(profile, fit=0, engagement=0)

    services.apply_scores(profile_ids=[profile.pk])

    lead = Lead.objects.get(profile=profile)
    assert lead.stage == Stage.LEAD and lead.engagement == 0
    assert lead.stage_changes.count() == 2


def test_an_email_address_makes_a_known_person_and_an_anonymous_visitor_is_not(org, model):
    known = Profile.objects.create(owner_unit=org.hq_marketing,
                                   traits={"name": "Ada Wong", "company": "Wong Trading"})
    Identity.objects.create(kind=IdentityKind.EMAIL, value="ada@wong.example.cn", profile=known)
    anonymous = Profile.objects.create(owner_unit=org.hq_marketing)
    Identity.objects.create(kind=IdentityKind.ANONYMOUS, value="browser-1", profile=anonymous)
    for profile in (known, anonymous):
        set_score(profile, fit=0, engagement=50)

    services.apply_scores(profile_ids=[known.pk, anonymous.pk])

    lead = Lead.objects.get(profile=known)
    assert lead.name == "Ada Wong · Wong Trading" and lead.account is None
    assert lead.stage_changes.first().rule["identified_by"] == "email"
    assert not Lead.objects.filter(profile=anonymous).exists()


def test_a_profile_with_an_open_lead_gets_no_second_one(org, model):
    _contact, profile = person(org.gd_sales)
    set_score(profile, fit=0, engagement=1)
    services.apply_scores(profile_ids=[profile.pk])
    services.apply_scores(profile_ids=[profile.pk, profile.pk])
    assert Lead.objects.filter(profile=profile).count() == 1


def test_the_channel_is_that_of_the_first_touch(org, model):
    from marketloop.tracking.processing import process_inbox
    from marketloop.tracking.services import record_touchpoint

    now = timezone.now()
    record_touchpoint(kind="page", email="first@touch.example.cn",
                      occurred_at=now - timedelta(days=1),
                      properties={"url": "https://corp.example.cn/?utm_medium=email"})
    record_touchpoint(kind="call", email="first@touch.example.cn", occurred_at=now)
    record_touchpoint(kind="call", email="hotline@touch.example.cn", occurred_at=now)
    while process_inbox():
        pass
    profiles = {value: pid for value, pid in Identity.objects.filter(
        kind=IdentityKind.EMAIL, value__endswith="@touch.example.cn").values_list(
        "value", "profile_id")}
    for pid in profiles.values():
        set_score(Profile.objects.get(pk=pid), fit=0, engagement=1)

    services.apply_scores(profile_ids=profiles.values())

    assert Lead.objects.get(profile_id=profiles["first@touch.example.cn"]).channel == Channel.EDM
    assert Lead.objects.get(profile_id=profiles["hotline@touch.example.cn"]).channel == \
        Channel.HOTLINE


def test_scores_changed_runs_the_lifecycle_once_the_scoring_commits(
        org, model, django_capture_on_commit_callbacks):
    _contact, profile = person(org.gd_sales)
    set_score(profile, fit=0, engagement=LEAD_AT)

    with django_capture_on_commit_callbacks(execute=True):
        bus.publish(ScoresChanged(profile_ids=(profile.pk,)))

    assert Lead.objects.get(profile=profile).stage == Stage.LEAD


def test_merged_profiles_keep_one_open_lead_the_one_further_along(
        org, model, gd_team, django_capture_on_commit_callbacks):
    _contact, survivor = person(org.gd_sales)
    kept = score_to_mql(survivor)
    absorbed = Profile.objects.create(owner_unit=org.hq_marketing)
    Identity.objects.create(kind=IdentityKind.EMAIL, value="same@person.example.cn",
                            profile=absorbed)
    set_score(absorbed, fit=0, engagement=1)
    services.apply_scores(profile_ids=[absorbed.pk])
    duplicate = Lead.objects.get(profile=absorbed)
    Profile.objects.filter(pk=absorbed.pk).update(merged_into=survivor)

    with django_capture_on_commit_callbacks(execute=True):
        bus.publish(ProfilesMerged(pairs=((survivor.pk, absorbed.pk),)))

    duplicate.refresh_from_db()
    assert duplicate.profile_id == survivor.pk and duplicate.stage == Stage.DISQUALIFIED
    assert duplicate.stage_changes.last().reason == (
        f"Duplicate: the same person as lead {kept.pk} (their profiles were merged)")
    assert Lead.objects.get(pk=kept.pk).stage == Stage.MQL


def test_the_lead_of_an_absorbed_profile_moves_to_the_survivor(org, model):
    _contact, survivor = person(org.gd_sales)
    _other, absorbed = person(org.gd_sales)
    set_score(absorbed, fit=0, engagement=LEAD_AT)
    services.apply_scores(profile_ids=[absorbed.pk])

    assert services.merge_profiles(pairs=[(survivor.pk, absorbed.pk)]) == 1

    lead = Lead.objects.get(profile=survivor)
    assert lead.stage == Stage.LEAD
    set_score(survivor, fit=0, engagement=LEAD_AT)
    services.apply_scores(profile_ids=[survivor.pk])
    assert Lead.objects.filter(profile=survivor).count() == 1


# ---- never backwards without a cause -------------------------------------------------------


def test_a_move_backwards_without_a_cause_is_refused(org, model, gd_team):
    lead = score_to_mql(person(org.gd_sales)[1])

    for target in (Stage.LEAD, Stage.RECYCLED, Stage.DISQUALIFIED):
        with pytest.raises(LeadError) as refused:
            lifecycle.move(lead, target, cause=StageChange.Cause.USER, by=gd_team.manager)
        assert refused.value.code == LeadErrorCode.BACKWARD_WITHOUT_CAUSE
    assert Lead.objects.get(pk=lead.pk).stage == Stage.MQL

    change = lifecycle.move(lead, Stage.LEAD, cause=StageChange.Cause.USER, by=gd_team.manager,
                            reason="Asked to wait until next year")
    assert (change.from_stage, change.to_stage, change.reason) == (
        Stage.MQL, Stage.LEAD, "Asked to wait until next year")


def test_a_move_forward_needs_no_reason_and_a_move_to_the_same_stage_is_refused(org, model):
    _contact, profile = person(org.gd_sales)
    set_score(profile, fit=0, engagement=1)
    services.apply_scores(profile_ids=[profile.pk])
    lead = Lead.objects.get(profile=profile)
    lifecycle.move(lead, Stage.LEAD, cause=StageChange.Cause.RULE, rule={"test": 1})
    with pytest.raises(LeadError) as refused:
        lifecycle.move(lead, Stage.LEAD, cause=StageChange.Cause.RULE, rule={"test": 1})
    assert refused.value.code == LeadErrorCode.WRONG_STAGE


# ---- recycled leads ------------------------------------------------------------------------


def test_a_recycled_lead_requalifies_only_after_a_real_rise_in_engagement(org, model, gd_team):
    _contact, profile = person(org.gd_sales)
    lead = score_to_mql(profile)  # engagement 45
    services.reject(actor=lead.owner, lead=lead, reason="no_budget")
    lead.refresh_from_db()
    assert lead.stage == Stage.RECYCLED and lead.engagement_at_recycle == MQL_ENGAGEMENT + 5

    set_score(profile, fit=MQL_FIT + 5, engagement=MQL_ENGAGEMENT + 5 + LEAD_AT - 1)
    services.apply_scores(profile_ids=[profile.pk])
    assert Lead.objects.get(pk=lead.pk).stage == Stage.RECYCLED

    set_score(profile, fit=MQL_FIT + 5, engagement=MQL_ENGAGEMENT + 5 + LEAD_AT)
    services.apply_scores(profile_ids=[profile.pk])
    lead.refresh_from_db()
    assert lead.stage == Stage.MQL and lead.owner in gd_team.reps
    back = lead.stage_changes.filter(from_stage=Stage.RECYCLED).get()
    assert back.cause == "rule"
    assert back.rule["engagement_at_recycle"] == MQL_ENGAGEMENT + 5
    assert back.rule["requalify_at"] == MQL_ENGAGEMENT + 5 + LEAD_AT
    assert lead.times_recycled == 1 and lead.reject_reason == "no_budget"


# ---- by hand -------------------------------------------------------------------------------


def test_a_marketer_qualifies_a_lead_by_hand_and_it_is_routed(org, model, gd_team,
                                                             hq_marketer):
    _contact, profile = person(org.gd_sales)
    set_score(profile, fit=1, engagement=LEAD_AT)
    services.apply_scores(profile_ids=[profile.pk])
    lead = Lead.objects.get(profile=profile)

    services.qualify(actor=hq_marketer, lead=lead)

    lead.refresh_from_db()
    assert lead.stage == Stage.MQL and lead.owner in gd_team.reps
    change = lead.stage_changes.get(to_stage=Stage.MQL)
    assert (change.cause, change.by, change.reason) == ("user", hq_marketer,
                                                        "Qualified by hand")


def test_only_marketing_held_stages_can_be_qualified(org, model, gd_team, hq_marketer):
    lead = score_to_mql(person(org.gd_sales)[1])
    with pytest.raises(LeadError) as refused:
        services.qualify(actor=hq_marketer, lead=lead, reason="again")
    assert refused.value.code == LeadErrorCode.WRONG_STAGE


def test_disqualifying_needs_a_reason_and_the_person_gets_no_new_lead_by_rule(org, model,
                                                                            hq_marketer):
    _contact, profile = person(org.gd_sales)
    set_score(profile, fit=1, engagement=LEAD_AT)
    services.apply_scores(profile_ids=[profile.pk])
    lead = Lead.objects.get(profile=profile)
    with pytest.raises(LeadError) as refused:
        services.disqualify(actor=hq_marketer, lead=lead, reason="  ")
    assert refused.value.code == LeadErrorCode.REASON_REQUIRED

    services.disqualify(actor=hq_marketer, lead=lead, reason="A student, not a buyer")

    lead.refresh_from_db()
    assert lead.stage == Stage.DISQUALIFIED and lead.disqualified_at
    assert lead.stage_changes.last().reason == "A student, not a buyer"
    set_score(profile, fit=90, engagement=90)
    services.apply_scores(profile_ids=[profile.pk])
    assert Lead.objects.filter(profile=profile).count() == 1


def test_a_customer_scored_again_starts_a_new_lead(org, model, gd_team):
    _contact, profile = person(org.gd_sales)
    lead = score_to_mql(profile)
    services.accept(actor=lead.owner, lead=lead)
    services.record_opportunity(lead_id=lead.pk, by=lead.owner)
    services.record_won(lead_id=lead.pk, by=lead.owner, opportunity_name="ERP")

    services.apply_scores(profile_ids=[profile.pk])

    assert Lead.objects.filter(profile=profile).count() == 2
    assert Lead.objects.get(pk=lead.pk).stage == Stage.CUSTOMER


def test_people_without_the_role_cannot_qualify_or_disqualify(org, model, make_user):
    _contact, profile = person(org.gd_sales)
    set_score(profile, fit=1, engagement=1)
    services.apply_scores(profile_ids=[profile.pk])
    lead = Lead.objects.get(profile=profile)
    trainer = make_user(org.hq, Role.TRAINER)
    with pytest.raises(NotAllowed):
        services.qualify(actor=trainer, lead=lead)
    with pytest.raises(NotAllowed):
        services.disqualify(actor=trainer, lead=lead, reason="no")


# ---- a customer's new need -------------------------------------------------------------------


def test_a_customers_new_need_is_an_mql_routed_at_once(org, model, gd_team, gd_rep):
    contact, _profile = person(org.gd_sales, "钱多多")

    lead = services.hand_off_need(actor=gd_rep, contact=contact, need=CustomerNeed.NEW_MODULE,
                                  note="HR module for 3,000 staff")

    assert (lead.kind, lead.need, lead.stage) == (LeadKind.CUSTOMER_NEED, "new_module",
                                                   Stage.MQL)
    assert lead.lead_at == lead.mql_at == lead.created_at
    assert lead.owner_unit == org.gd_sales and lead.owner is not None
    change = lead.stage_changes.get()
    assert (change.from_stage, change.to_stage, change.cause, change.by) == (
        "", Stage.MQL, "user", gd_rep)
    assert change.reason == "New module: HR module for 3,000 staff"


def test_a_new_need_of_a_person_in_nurture_takes_over_their_lead(org, model, gd_team,
                                                               hq_marketer):
    contact, profile = person(org.gd_sales)
    set_score(profile, fit=1, engagement=LEAD_AT)
    services.apply_scores(profile_ids=[profile.pk])

    lead = services.hand_off_need(actor=hq_marketer, contact=contact,
                                  need=CustomerNeed.ANNUAL_PLAN, note="")

    assert Lead.objects.filter(profile=profile).count() == 1
    assert lead.kind == LeadKind.CUSTOMER_NEED and lead.stage == Stage.MQL
    assert changes_of(lead)[-1] == ("lead", "mql", "user")


def test_a_new_need_is_refused_while_sales_holds_an_open_lead_of_the_person(org, model, gd_team,
                                                                          gd_rep):
    contact, profile = person(org.gd_sales)
    score_to_mql(profile)
    with pytest.raises(LeadError) as refused:
        services.hand_off_need(actor=gd_rep, contact=contact, need=CustomerNeed.NEW_MODULE)
    assert refused.value.code == LeadErrorCode.ALREADY_OPEN


def test_a_need_of_kind_other_must_be_described(org, model, gd_rep):
    contact, _profile = person(org.gd_sales)
    with pytest.raises(LeadError) as refused:
        services.hand_off_need(actor=gd_rep, contact=contact, need=CustomerNeed.OTHER)
    assert refused.value.code == LeadErrorCode.NOTE_REQUIRED
    assert "note" in refused.value.errors


def test_nobody_hands_off_a_contact_they_cannot_see(org, model, make_user):
    contact, _profile = person(org.zj_sales)
    gd_rep = make_user(org.gd_sales, Role.SALES_REP)
    with pytest.raises(NotAllowed) as refused:
        services.hand_off_need(actor=gd_rep, contact=contact, need=CustomerNeed.NEW_MODULE)
    assert refused.value.status == 404


# ---- the sales context's calls ---------------------------------------------------------------


def test_a_lost_opportunity_returns_the_lead_to_marketing_like_a_rejection(org, model, gd_team):
    _contact, profile = person(org.gd_sales)
    lead = score_to_mql(profile)
    owner = lead.owner
    services.accept(actor=owner, lead=lead)
    services.record_opportunity(lead_id=lead.pk, by=owner)
    set_score(profile, fit=MQL_FIT + 5, engagement=70)

    services.record_lost(lead_id=lead.pk, by=owner, opportunity_name="ERP", reason="Price")

    lead.refresh_from_db()
    assert lead.stage == Stage.RECYCLED
    assert (lead.owner_unit, lead.owner, lead.partner, lead.in_triage) == (
        org.hq_marketing, None, None, False)
    assert lead.engagement_at_recycle == 70
    assert lead.stage_changes.last().reason == "Opportunity lost: ERP: Price"
    assert changes_of(lead)[-3:] == [("mql", "sal", "user"), ("sal", "sql", "user"),
                                     ("sql", "recycled", "system")]


def test_every_lead_write_is_audited(org, model, gd_team, hq_marketer):
    _contact, profile = person(org.gd_sales)
    lead = score_to_mql(profile)
    services.reject(actor=lead.owner, lead=lead, reason="no_need")
    actions = list(AuditEntry.objects.filter(object_type="leads.lead", object_id=lead.pk)
                   .order_by("id").values_list("action", flat=True))
    assert actions == ["created", "stage", "assigned", "rejected"]
    rejected = AuditEntry.objects.get(object_type="leads.lead", object_id=lead.pk,
                                      action="rejected")
    assert rejected.changes["stage"] == ["mql", "recycled"]
    assert rejected.changes["owner_unit"][1] == str(org.hq_marketing)

