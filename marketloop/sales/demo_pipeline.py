"""The demo's pipeline. First a year of history: leads that went (or did not go) through
MQL, SAL, SQL and won, each step recorded as the lifecycle records it (stage changes with their
causes, assignments), and the opportunities of those that reached SQL with their deal teams.

The lifecycle services act at "now"; the history is written directly, backdated, so that the
funnel and its trend have a year to show. Then this fortnight, live (`play_live`): the demo's
activity is scored and the real services make, route, accept, reject and escalate leads."""

from __future__ import annotations

import random
from collections import defaultdict
from collections.abc import Callable
from datetime import datetime, timedelta
from decimal import Decimal

from django.db import transaction
from django.utils import timezone

from marketloop.crm.models import Contact
from marketloop.leads.models import (
    Assignment,
    Channel,
    Lead,
    RejectReason,
    Stage,
    StageChange,
)
from marketloop.org.models import OrgUnit, Role, User
from marketloop.sales.models import (
    DEFAULT_PROBABILITIES,
    Competitor,
    DealRole,
    DealTeamMember,
    Opportunity,
    OpportunityChange,
    OpportunityStage,
    Product,
)
from marketloop.tracking.models import Profile

SELLING_ROLES = (Role.ACCOUNT_MANAGER, Role.SALES_REP, Role.PARTNER_STAFF)
CHANNEL_WEIGHTS = [(Channel.SEARCH, 30), (Channel.EDM, 25), (Channel.WEB, 15),
                   (Channel.FORM, 10), (Channel.EVENT, 10), (Channel.HOTLINE, 7),
                   (Channel.SALES, 3)]
REJECT_WEIGHTS = [(RejectReason.NO_NEED, 30), (RejectReason.NO_BUDGET, 25),
                  (RejectReason.NOT_REACHABLE, 15), (RejectReason.NOT_DECISION_MAKER, 12),
                  (RejectReason.COMPETITOR_LOCKED, 10), (RejectReason.WRONG_OWNER, 5),
                  (RejectReason.DUPLICATE, 3)]
LOST_REASONS = ["价格高于竞争对手", "客户预算冻结", "项目延期到明年",
                "竞争对手已有系统, 迁移成本高", "客户选择了本地小厂商"]
WON_REASONS = ["方案贴合行业场景, 标杆案例打动客户", "铁三角配合紧密, 演示效果好",
               "服务网络覆盖客户各地分支", "价格与实施周期均有优势"]
PROJECTS = ["财务共享", "人力资源云", "供应链协同", "集团管控", "数据中台"]


def _weighted(rng: random.Random, pairs: list[tuple[str, int]]) -> str:
    return rng.choices([p for p, _w in pairs], [w for _p, w in pairs])[0]


def build_history(*, seed: int, people: int = 1500,
                  progress: Callable[[str], None] = print) -> int:
    """Write the history; return the number of leads. Does nothing when leads exist."""
    if Lead.objects.exists():
        return 0
    rng = random.Random(f"{seed}:pipeline")
    now = timezone.now()
    marketing = OrgUnit.objects.get(code="hq-marketing")
    sellers: dict[int, list[int]] = defaultdict(list)
    team_pool: dict[int, list[tuple[int, str]]] = defaultdict(list)  # province -> (user, role)
    for user_id, unit_id, province_id, roles in User.objects.filter(is_active=True).values_list(
            "id", "unit_id", "unit__province_id", "roles"):
        if set(roles) & set(SELLING_ROLES):
            sellers[unit_id].append(user_id)
        for role, deal_role in ((Role.PROJECT_MANAGER, DealRole.PROJECT_MANAGER),
                                (Role.PRESALES, DealRole.PRESALES)):
            if role in roles:
                team_pool[province_id or 0].append((user_id, deal_role))
    contacts = list(Contact.objects.filter(profiles__isnull=False).select_related("account")
                    .order_by("id").distinct()[:people * 3])
    chosen = rng.sample(contacts, min(people, len(contacts)))
    profile_of = dict(Profile.objects.filter(contact__in=chosen, merged_into__isnull=True)
                      .values_list("contact_id", "id"))
    products = list(Product.objects.values_list("id", flat=True))
    competitors = list(Competitor.objects.values_list("id", flat=True))

    with transaction.atomic():
        leads = 0
        for contact in chosen:
            _one_lead(rng, contact, profile_of.get(contact.id), now, marketing, sellers,
                      team_pool, products, competitors)
            leads += 1
    progress(f"Pipeline history: {leads:,} leads over the past year with their stage changes, "
             f"assignments and {Opportunity.objects.count():,} opportunities.")
    return leads


def _one_lead(rng: random.Random, contact: Contact, profile_id: int | None, now: datetime,
              marketing: OrgUnit, sellers: dict[int, list[int]],
              team_pool: dict[int, list[tuple[int, str]]], products: list[int],
              competitors: list[int]) -> None:
    account = contact.account
    at = now - timedelta(days=rng.uniform(20, 365))
    lead = Lead(profile_id=profile_id, contact=contact, account=account,
                name=f"{contact.name} · {account.name}", stage=Stage.SUBSCRIBER,
                owner_unit=marketing, tier=account.tier, province_id=account.province_id,
                channel=_weighted(rng, CHANNEL_WEIGHTS), created_at=at - timedelta(days=30),
                fit=rng.randint(10, 80), engagement=round(rng.uniform(5, 90), 1))
    changes: list[StageChange] = []

    def step(to: str, when: datetime, *, cause: str, reason: str = "",
             rule: dict | None = None, by: int | None = None) -> None:
        changes.append(StageChange(from_stage=lead.stage, to_stage=to, at=when, cause=cause,
                                   reason=reason, rule=rule or {}, by_id=by))
        lead.stage = to
        lead.updated_at = when

    rule = {"model": "默认评分模型", "fit": lead.fit, "mql_fit": 30,
            "engagement": lead.engagement, "mql_engagement": 40}
    step(Stage.LEAD, at, cause=StageChange.Cause.RULE,
         rule={"model": "默认评分模型", "engagement": 12.0, "lead_engagement": 10})
    lead.lead_at = at
    if rng.random() < 0.05:
        when = at + timedelta(days=rng.uniform(1, 30))
        step(Stage.DISQUALIFIED, min(when, now), cause=StageChange.Cause.USER,
             reason="学生/求职者, 非采购意向")
        lead.disqualified_at = min(when, now)
        _save(lead, changes, [])
        return
    if rng.random() > 0.45:
        _save(lead, changes, [])
        return
    mql = at + timedelta(days=rng.uniform(1, 25))
    if mql >= now:
        _save(lead, changes, [])
        return
    step(Stage.MQL, mql, cause=StageChange.Cause.RULE, rule=rule)
    lead.mql_at = mql
    assignments: list[Assignment] = []
    pool = sellers.get(account.owner_unit_id) or []
    if not pool:
        lead.in_triage = True
        assignments.append(Assignment(owner_unit=marketing, how=Assignment.How.TRIAGE, at=mql,
                                      detail={"reason": "no selling person in the owning unit"}))
        _save(lead, changes, assignments)
        return
    owner = rng.choice(pool)
    lead.owner_unit_id, lead.partner_id, lead.owner_id = (account.owner_unit_id,
                                                          account.partner_id, owner)
    lead.assigned_at = mql
    assignments.append(Assignment(owner_unit_id=account.owner_unit_id, owner_id=owner,
                                  how=Assignment.How.ROUTED, at=mql,
                                  detail={"tier": account.tier, "rule": account.tier_reason}))
    decided = mql + timedelta(hours=rng.uniform(1, 60))
    if decided >= now:
        _save(lead, changes, assignments)
        return
    if rng.random() < 0.3:
        reason = _weighted(rng, REJECT_WEIGHTS)
        step(Stage.RECYCLED, decided, cause=StageChange.Cause.USER, by=owner,
             reason=RejectReason(reason).label)
        lead.recycled_at, lead.reject_reason, lead.times_recycled = decided, reason, 1
        lead.owner_unit, lead.partner_id, lead.owner_id = marketing, None, None
        _save(lead, changes, assignments)
        return
    step(Stage.SAL, decided, cause=StageChange.Cause.USER, by=owner, reason="已电话沟通, 接受")
    lead.sal_at = decided
    opened = decided + timedelta(days=rng.uniform(2, 20))
    if opened >= now or rng.random() < 0.45:
        _save(lead, changes, assignments)
        return
    step(Stage.SQL, opened, cause=StageChange.Cause.USER, by=owner, reason="Opportunity opened")
    lead.sql_at = opened
    outcome_at = opened + timedelta(days=rng.uniform(20, 120))
    outcome = "open"
    if outcome_at < now:
        outcome = "won" if rng.random() < 0.45 else "lost"
    opp_name = f"{account.name} {rng.choice(PROJECTS)}项目"
    if outcome == "won":
        step(Stage.CUSTOMER, outcome_at, cause=StageChange.Cause.SYSTEM, by=owner,
             reason=f"Opportunity won: {opp_name}")
        lead.won_at = outcome_at
    elif outcome == "lost":
        step(Stage.RECYCLED, outcome_at, cause=StageChange.Cause.SYSTEM, by=owner,
             reason=f"Opportunity lost: {opp_name}")
        lead.recycled_at, lead.times_recycled = outcome_at, 1
        lead.owner_unit, lead.partner_id, lead.owner_id = marketing, None, None
    _save(lead, changes, assignments)
    _opportunity(rng, lead, account, owner, opp_name, opened, outcome, outcome_at, team_pool,
                 products, competitors)


def _save(lead: Lead, changes: list[StageChange], assignments: list[Assignment]) -> None:
    lead.save()
    for row in changes:
        row.lead = lead
    for row in assignments:
        row.lead = lead
    StageChange.objects.bulk_create(changes)
    Assignment.objects.bulk_create(assignments)


def _opportunity(rng: random.Random, lead: Lead, account, owner: int, name: str,
                 opened: datetime, outcome: str, outcome_at: datetime,
                 team_pool: dict[int, list[tuple[int, str]]], products: list[int],
                 competitors: list[int]) -> None:
    amount = Decimal(round(rng.lognormvariate(13.6, 0.9), -3))  # median ~800k CNY
    open_stage = rng.choice([OpportunityStage.QUALIFICATION, OpportunityStage.SOLUTION,
                             OpportunityStage.BID, OpportunityStage.NEGOTIATION])
    stage = {"won": OpportunityStage.WON, "lost": OpportunityStage.LOST}.get(outcome, open_stage)
    opportunity = Opportunity.objects.create(
        account=account, lead=lead, name=name, amount=amount, amount_cny=amount,
        stage=stage, probability=DEFAULT_PROBABILITIES[stage],
        expected_close=(outcome_at if outcome != "open"
                        else opened + timedelta(days=rng.uniform(30, 150))).date(),
        big_deal=amount >= Decimal("2000000"),
        close_reason=(rng.choice(WON_REASONS) if outcome == "won"
                      else rng.choice(LOST_REASONS) if outcome == "lost" else ""),
        closed_at=outcome_at if outcome != "open" else None,
        owner_unit_id=account.owner_unit_id, partner_id=account.partner_id, owner_id=owner,
        created_by_id=owner, created_at=opened,
        updated_at=outcome_at if outcome != "open" else opened)
    if products:
        opportunity.products.set(rng.sample(products, rng.randint(1, min(3, len(products)))))
    if competitors and rng.random() < 0.6:
        opportunity.competitors.set(rng.sample(competitors, rng.randint(1, 2)))
    members = [DealTeamMember(opportunity=opportunity, user_id=owner,
                              role=DealRole.ACCOUNT_MANAGER, added_at=opened)]
    pool = team_pool.get(account.province_id) or team_pool.get(0) or []
    for role in (DealRole.PROJECT_MANAGER, DealRole.PRESALES):
        fitting = [user for user, r in pool if r == role]
        if fitting:
            members.append(DealTeamMember(opportunity=opportunity, user_id=rng.choice(fitting),
                                          role=role, added_at=opened))
    DealTeamMember.objects.bulk_create(members)
    moves = [OpportunityChange(opportunity=opportunity, from_stage="",
                               to_stage=OpportunityStage.QUALIFICATION, at=opened,
                               by_id=owner)]
    if stage != OpportunityStage.QUALIFICATION:
        moves.append(OpportunityChange(opportunity=opportunity,
                                       from_stage=OpportunityStage.QUALIFICATION, to_stage=stage,
                                       at=outcome_at if outcome != "open" else opened,
                                       by_id=owner, reason=opportunity.close_reason))
    OpportunityChange.objects.bulk_create(moves)


# ---- this fortnight: the real services at work -----------------------------------------------

LIVE_ACCEPT, LIVE_REJECT, LIVE_OVERDUE_EVERY = 0.35, 0.2, 3


def play_live(*, seed: int, progress: Callable[[str], None] = print) -> dict[str, int]:
    """Score the demo's activity with the model in force, let the lifecycle make leads and
    MQLs and route them (the same services the worker runs), then act as the owners would:
    accept some (and open opportunities for half of those), send some back with a reason, and
    let some run past their deadline so the hand-off sweep reminds and escalates."""
    from marketloop.leads import services as lead_services
    from marketloop.scoring.models import Score
    from marketloop.scoring.services import nightly_rescore

    rng = random.Random(f"{seed}:live")
    started = timezone.now()
    nightly_rescore(cause="Demo data loaded")
    profile_ids = list(Score.objects.order_by("profile_id").values_list("profile_id", flat=True))
    for start in range(0, len(profile_ids), 2000):
        lead_services.apply_scores(profile_ids=profile_ids[start:start + 2000])
    routed = list(Lead.objects.filter(stage=Stage.MQL, owner__isnull=False,
                                      assigned_at__gte=started)
                  .select_related("owner", "account").order_by("id"))
    counts = {"mql": Lead.objects.filter(mql_at__gte=started).count(), "routed": len(routed),
              "triage": Lead.objects.filter(in_triage=True, mql_at__gte=started).count(),
              "accepted": 0, "rejected": 0, "opportunities": 0, "overdue": 0}
    products = list(Product.objects.values_list("id", flat=True))
    waiting: list[Lead] = []
    for lead in routed:
        roll = rng.random()
        if roll < LIVE_ACCEPT:
            lead_services.accept(actor=lead.owner, lead=lead)
            counts["accepted"] += 1
            if rng.random() < 0.5 and lead.account_id:
                _live_opportunity(rng, lead, products)
                counts["opportunities"] += 1
        elif roll < LIVE_ACCEPT + LIVE_REJECT:
            reason = _weighted(rng, REJECT_WEIGHTS)
            lead_services.reject(actor=lead.owner, lead=lead, reason=reason)
            counts["rejected"] += 1
        else:
            waiting.append(lead)
    # A third of those still waiting were assigned two working days ago and never answered.
    overdue = [lead.pk for lead in waiting[::LIVE_OVERDUE_EVERY]]
    Lead.objects.filter(pk__in=overdue).update(
        assigned_at=started - timedelta(days=3), remind_at=started - timedelta(days=2, hours=2),
        accept_due_at=started - timedelta(days=2))
    counts["overdue"] = len(overdue)
    swept = lead_services.sweep()
    counts.update(reminded=swept["reminded"], escalated=swept["escalated"])
    progress("Lifecycle: {mql} new MQLs from the demo's activity, {routed} routed to their teams, "
             "{triage} in triage; {accepted} accepted ({opportunities} opportunities opened), "
             "{rejected} sent back, {escalated} escalated past their deadline."
             .format(**counts))
    return counts


def _live_opportunity(rng: random.Random, lead: Lead, products: list[int]) -> None:
    from marketloop.sales.services import create_opportunity

    amount = Decimal(round(rng.lognormvariate(13.6, 0.9), -3))
    create_opportunity(
        user=lead.owner, lead_id=lead.pk, name=f"{lead.account.name} {rng.choice(PROJECTS)}项目",
        amount=amount, currency="CNY",
        expected_close=(timezone.now() + timedelta(days=rng.randint(30, 150))).date(),
        products=rng.sample(products, min(len(products), rng.randint(1, 2))))


def build_pipeline(*, seed: int, progress: Callable[[str], None] = print) -> None:
    if Lead.objects.exists():
        return
    build_history(seed=seed, progress=progress)
    play_live(seed=seed, progress=progress)
