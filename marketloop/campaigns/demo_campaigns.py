"""A year of marketing plans and activities for the demo data set, with budgets, approvals and
spend, the touchpoints people left on them, members, and a first attribution run.

HQ marketing runs the company-level programme (monthly EDM digests — the demo's website visits
already carry their codes —, the bimonthly magazine, webinars, insight articles, search ads,
social posts, two industry conferences, a hotline promotion and the annual executive forum);
six large provinces run region-level salons and public courses and customer-group workshops.

The touchpoints follow how people buy, so the models disagree: awareness (search ads,
articles, social) comes first, EDM, magazine and webinars in the middle, a registration near
the lead, salons and courses before an opportunity, and the executive forum or a workshop
while most won deals were being decided (lost deals rarely saw them). First touch credits
awareness, last touch the forum and workshops, the data-driven model the activities that
separate won journeys from lost ones. Everything goes through the real tracking inbox and
stitching, then the real matching of codes to activities.
"""

from __future__ import annotations

import random
import time
import uuid
from collections.abc import Callable
from datetime import date, datetime, timedelta
from decimal import Decimal

from django.db import transaction
from django.utils import timezone

from marketloop.campaigns.models import (
    Activity,
    ActivityLevel,
    ActivityStatus,
    AttributionRun,
    BudgetRequest,
    CampaignMember,
    MarketingPlan,
    MemberSource,
    MemberStatus,
    RequestStatus,
    Spend,
    TrackingLink,
)
from marketloop.crm.models import Contact
from marketloop.leads.models import Lead
from marketloop.org.models import OrgUnit, User
from marketloop.sales.models import Opportunity
from marketloop.tracking.demo_activity import EventWriter
from marketloop.tracking.models import Source, SourceKind
from marketloop.tracking.processing import process_inbox

PROVINCES = ["gd", "zj", "js", "bj", "sh", "sd"]
SITE = "https://www.marketloop-demo.cn"
COST = {  # (low, high) CNY per activity
    "edm": (4_000, 8_000), "magazine": (30_000, 50_000), "webinar": (12_000, 25_000),
    "article": (5_000, 10_000), "search_ad": (90_000, 150_000), "social": (3_000, 8_000),
    "conference": (200_000, 400_000), "hotline": (15_000, 30_000), "forum": (600_000, 900_000),
    "salon": (25_000, 60_000), "course": (15_000, 40_000), "other": (20_000, 50_000),
}


def _quarter(day: date) -> tuple[int, int]:
    return day.year, (day.month - 1) // 3 + 1


def _quarter_start(year: int, quarter: int) -> date:
    return date(year, 3 * (quarter - 1) + 1, 1)


class _Programme:
    """Creates the plans and activities, and finds the activity of a kind around a date."""

    def __init__(self, rng: random.Random, today: date) -> None:
        self.rng, self.today = rng, today
        self.plans: dict[tuple[str, int, int], MarketingPlan] = {}
        self.activities: list[Activity] = []
        self.by_kind: dict[tuple[str, str], list[Activity]] = {}  # (kind, province|"") -> list

    def plan(self, unit: OrgUnit, owner: User, year: int, quarter: int) -> MarketingPlan:
        key = (unit.code, year, quarter)
        if key not in self.plans:
            label = unit.name if unit.code != "hq-marketing" else "总部市场部"
            self.plans[key] = MarketingPlan.objects.create(
                name=f"{label} {year} 年第 {quarter} 季度营销计划", year=year, quarter=quarter,
                owner_unit=unit, owner=owner, goal_leads=self.rng.choice([150, 200, 300]),
                goal_mqls=self.rng.choice([40, 60, 80]),
                goal_pipeline=Decimal(self.rng.choice([5, 8, 12]) * 1_000_000),
                goal_revenue=Decimal(self.rng.choice([2, 3, 5]) * 1_000_000),
                budget=Decimal(0), created_by=owner,
                created_at=timezone.make_aware(datetime.combine(
                    _quarter_start(year, quarter) - timedelta(days=20), datetime.min.time())))
        return self.plans[key]

    def add(self, *, code: str, name: str, kind: str, level: str, unit: OrgUnit, owner: User,
            plan_owner: User, starts: date, days: int, audience: str,
            province: str = "") -> Activity:
        year, quarter = _quarter(starts)
        plan = self.plan(unit if unit.kind != "province_department" else unit.province,
                         plan_owner, year, quarter)
        low, high = COST[kind]
        budget = Decimal(self.rng.randrange(low, high, 1000))
        ends = starts + timedelta(days=days)
        status = (ActivityStatus.COMPLETED if ends < self.today else
                  ActivityStatus.RUNNING if starts <= self.today else ActivityStatus.PLANNED)
        activity = Activity.objects.create(
            plan=plan, code=code, name=name, kind=kind, level=level, status=status,
            owner_unit=unit, owner=owner, starts_on=starts, ends_on=ends, audience=audience,
            goal_leads=self.rng.choice([10, 20, 40]), goal_mqls=self.rng.choice([3, 5, 10]),
            goal_pipeline=budget * 10, goal_revenue=budget * 4, budget=budget,
            created_by=owner, created_at=plan.created_at)
        self.activities.append(activity)
        self.by_kind.setdefault((kind, province), []).append(activity)
        return activity

    def around(self, kinds: list[str], moment: datetime, province: str = "") -> Activity | None:
        """An activity of one of `kinds` (the province's where it runs any) that started not
        long before `moment`."""
        day = moment.date()
        options = [a for kind in kinds for key in ((kind, province), (kind, ""))
                   for a in self.by_kind.get(key, [])
                   if a.starts_on <= day <= a.ends_on + timedelta(days=45)]
        return self.rng.choice(options) if options else None


def _build_programme(rng: random.Random, now: datetime) -> _Programme:
    today = timezone.localdate(now)
    users = {u.username: u for u in User.objects.filter(username__in=[
        "hq.marketing.manager", "hq.marketer", "hq.marketer2", "hq.marketer3",
        *[f"{code}.head" for code in PROVINCES], *[f"{code}.manager" for code in PROVINCES]])}
    units = {u.code: u for u in OrgUnit.objects.filter(code__in=[
        "hq-marketing", *PROVINCES, *[f"{code}-sales" for code in PROVINCES]])}
    hq, boss = units["hq-marketing"], users["hq.marketing.manager"]
    marketers = [users[name] for name in ("hq.marketer", "hq.marketer2", "hq.marketer3")]
    programme = _Programme(rng, today)
    start = date(today.year - 1, today.month, 1)

    def hq_activity(code: str, name: str, kind: str, starts: date, days: int,
                    audience: str) -> None:
        if starts <= today + timedelta(days=40):
            programme.add(code=code, name=name, kind=kind, level=ActivityLevel.COMPANY, unit=hq,
                          owner=rng.choice(marketers), plan_owner=boss, starts=starts,
                          days=days, audience=audience)

    month = start
    while month <= today:
        hq_activity(f"edm-digest-{month:%Y-%m}", f"EDM 月度精选 {month:%Y-%m}", "edm", month, 27,
                    "订阅用户与在谈客户")
        if month.month % 2 == 1:
            hq_activity(f"magazine-{month:%Y-%m}",
                        f"《管理前沿》双月刊 {month:%Y} 年第 {(month.month + 1) // 2} 期",
                        "magazine", month, 55, "CIO、CFO 与业务负责人")
        month = (month + timedelta(days=32)).replace(day=1)
    topics = ["财务共享中心", "制造业数字化", "人力资源云", "集团管控", "供应链协同"]
    quarter_day = _quarter_start(*_quarter(start))
    while quarter_day <= today:
        year, q = _quarter(quarter_day)
        topic = topics[(year * 4 + q) % len(topics)]
        hq_activity(f"webinar-{year}q{q}", f"线上研讨会：{topic}实践", "webinar",
                    quarter_day + timedelta(days=40), 1, "中大型企业信息化负责人")
        hq_activity(f"article-{year}q{q}-a", f"洞察文章：{topic}的五个误区", "article",
                    quarter_day + timedelta(days=5), 60, "行业读者")
        hq_activity(f"article-{year}q{q}-b", f"洞察文章：{topic}标杆案例", "article",
                    quarter_day + timedelta(days=35), 60, "行业读者")
        hq_activity(f"sem-{year}q{q}", f"搜索关键词广告 {year} Q{q}", "search_ad", quarter_day, 88,
                    "搜索 ERP、财务共享等关键词的访客")
        hq_activity(f"social-{year}q{q}", f"视频号与公众号推广 {year} Q{q}", "social",
                    quarter_day + timedelta(days=10), 70, "关注者")
        quarter_day = (quarter_day + timedelta(days=95)).replace(day=1)
    hq_activity(f"forum-{today.year if today.month > 10 else today.year - 1}",
                "年度高层论坛", "forum", today - timedelta(days=150), 2,
                "客户高层（CEO、CFO、CIO）")
    hq_activity("conference-cio-expo", "中国 CIO 大会展位", "conference",
                today - timedelta(days=250), 3, "行业 CIO")
    hq_activity("conference-manufacturing", "智能制造峰会演讲", "conference",
                today - timedelta(days=90), 2, "制造业高管")
    hq_activity("hotline-400-spring", "400 热线有奖咨询", "hotline", today - timedelta(days=200),
                60, "来电咨询的潜在客户")
    # Region-level salons and courses, customer-group workshops, in six provinces.
    for code in PROVINCES:
        province = units[code]
        sales = units[f"{code}-sales"]
        owner = users.get(f"{code}.manager")
        plan_owner = users.get(f"{code}.head") or owner
        if owner is None or plan_owner is None:
            continue
        for n, days_ago in enumerate(range(330, -1, -75)):
            starts = today - timedelta(days=days_ago)
            programme.add(code=f"salon-{code}-{starts:%Y%m}", kind="salon",
                          name=f"{province.name} CIO 沙龙 · {topics[n % len(topics)]}",
                          level=ActivityLevel.REGION, unit=sales, owner=owner,
                          plan_owner=plan_owner, starts=starts, days=1, province=code,
                          audience=f"{province.name}重点行业信息化负责人")
        for n, days_ago in enumerate(range(300, 0, -120)):
            starts = today - timedelta(days=days_ago)
            programme.add(code=f"course-{code}-{starts:%Y%m}", kind="course",
                          name=f"公开课：{topics[(n + 2) % len(topics)]}实战（{province.name}）",
                          level=ActivityLevel.REGION, unit=sales, owner=owner,
                          plan_owner=plan_owner, starts=starts, days=2, province=code,
                          audience="财务与信息化骨干")
        for days_ago in (240, 100):
            starts = today - timedelta(days=days_ago)
            programme.add(code=f"workshop-{code}-{starts:%Y%m}", kind="other",
                          name=f"{province.name}制造业客户群 workshop",
                          level=ActivityLevel.CUSTOMER_GROUP, unit=sales, owner=owner,
                          plan_owner=plan_owner, starts=starts, days=1, province=code,
                          audience="在谈制造业客户的决策层")
    return programme


def _money(programme: _Programme, now: datetime) -> None:
    """Approved budget requests and spend, and plan budgets a little above what they hold."""
    rng = programme.rng
    requests, spend = [], []
    for activity in programme.activities:
        plan = activity.plan
        asked = timezone.make_aware(datetime.combine(
            activity.starts_on - timedelta(days=30), datetime.min.time())) + timedelta(hours=10)
        if activity.status == ActivityStatus.PLANNED and rng.random() < 0.5:
            requests.append(BudgetRequest(
                activity=activity, amount=activity.budget, reason="活动筹备：场地、物料与推广",
                requested_by=activity.owner, requested_at=min(asked, now)))
            continue
        requests.append(BudgetRequest(
            activity=activity, amount=activity.budget, reason="活动预算（计划内）",
            status=RequestStatus.APPROVED, requested_by=activity.owner,
            requested_at=min(asked, now), decided_by=plan.owner,
            decided_at=min(asked + timedelta(days=1), now), decision_note="同意"))
        activity.approved_budget = activity.budget
        if activity.status == ActivityStatus.PLANNED:
            continue
        share = Decimal(rng.randrange(70, 101)) / 100
        total = (activity.budget * share).quantize(Decimal("1"))
        parts = [total * Decimal("0.6"), total - total * Decimal("0.6")] if total > 20_000 \
            else [total]
        for n, part in enumerate(parts):
            spend.append(Spend(activity=activity, amount=part.quantize(Decimal("0.01")),
                               spent_on=min(activity.starts_on + timedelta(days=n * 7),
                                            timezone.localdate(now)),
                               description=["场地与物料", "推广与差旅"][n],
                               vendor=rng.choice(["上海会展服务有限公司", "北京思创广告有限公司",
                                                  "广州云印科技有限公司"]),
                               recorded_by=activity.owner, recorded_at=now))
        activity.spent = sum((s.amount for s in spend if s.activity is activity), Decimal(0))
    # An over-ask waiting for the plan owner, and one the owner turned down.
    running = [a for a in programme.activities if a.status == ActivityStatus.RUNNING]
    for activity, status in zip(running[:2], (RequestStatus.PENDING, RequestStatus.REJECTED),
                                strict=False):
        requests.append(BudgetRequest(
            activity=activity, amount=Decimal(rng.randrange(10_000, 30_000, 1000)),
            reason="报名超出预期，追加场地与茶歇", status=status, requested_by=activity.owner,
            requested_at=now - timedelta(days=2),
            decided_by=activity.plan.owner if status == RequestStatus.REJECTED else None,
            decided_at=now - timedelta(days=1) if status == RequestStatus.REJECTED else None,
            decision_note="本季度预算已满" if status == RequestStatus.REJECTED else ""))
    BudgetRequest.objects.bulk_create(requests)
    Spend.objects.bulk_create(spend)
    Activity.objects.bulk_update(programme.activities, ["approved_budget", "spent"])
    for plan in programme.plans.values():
        held = sum((a.budget for a in programme.activities if a.plan_id == plan.pk), Decimal(0))
        plan.budget = (held * Decimal("1.15")).quantize(Decimal("1000"))
    MarketingPlan.objects.bulk_update(list(programme.plans.values()), ["budget"])
    links = [TrackingLink(activity=a, destination=f"{SITE}/events/{a.code}",
                          utm_source=source, utm_medium=medium, created_by=a.owner)
             for a in programme.activities
             for source, medium in {"search_ad": [("baidu", "cpc")],
                                    "social": [("wechat", "social")],
                                    "salon": [("edm", "email"), ("wechat", "social")],
                                    "course": [("edm", "email")],
                                    "webinar": [("edm", "email")]}.get(a.kind, [])]
    TrackingLink.objects.bulk_create(links)


class _Events:
    """The demo's tracking sources and tracking's inbox writer."""

    def __init__(self) -> None:
        self.sources = {kind: Source.objects.get_or_create(
            name=name, defaults={"kind": kind})[0] for kind, name in (
            (SourceKind.WEBSITE, "Corporate website"), (SourceKind.EMAIL, "EDM"),
            (SourceKind.HOTLINE, "Hotline 400"), (SourceKind.INTERNAL, "marketloop"))}
        self.writer = EventWriter()

    @property
    def count(self) -> int:
        return self.writer.count

    def add(self, kind: str, event: dict) -> None:
        event.setdefault("messageId", str(uuid.uuid4()))
        self.writer.add(self.sources[kind], event)

    def flush(self) -> None:
        self.writer.flush()


def _touch(events: _Events, activity: Activity, contact: tuple[int, str, str],
           at: datetime) -> None:
    """One touch of a person on an activity, the way that kind of activity is touched."""
    contact_id, email, mobile = contact
    traits = {"contactId": str(contact_id), "email": email}
    stamp = at.isoformat()
    code = activity.code
    kind = activity.kind
    if kind in ("search_ad", "social", "article", "magazine"):
        medium = {"search_ad": "cpc", "social": "social"}.get(kind, "content")
        url = f"{SITE}/insights/{code}?utm_source=demo&utm_medium={medium}&utm_campaign={code}"
        events.add(SourceKind.WEBSITE, {
            "type": "page", "timestamp": stamp, "userId": f"contact-{contact_id}",
            "name": activity.name, "properties": {"url": url, "title": activity.name},
            "context": {"campaign": {"name": code, "medium": medium, "source": "demo"},
                        "traits": traits}})
    elif kind == "edm":
        events.add(SourceKind.EMAIL, {
            "type": "track", "event": "Email Link Clicked", "timestamp": stamp,
            "properties": {"touchpoint_kind": "email_click", "activity_code": code,
                           "mailing": code, "url": f"{SITE}/insights"},
            "context": {"traits": traits}})
    elif kind == "hotline" and mobile:
        events.add(SourceKind.HOTLINE, {
            "type": "track", "event": "Hotline Call", "timestamp": stamp,
            "properties": {"touchpoint_kind": "call", "activity_code": code, "queue": "sales",
                           "talk_seconds": 240, "outcome": "answered"},
            "context": {"traits": {"mobile": mobile, "contactId": str(contact_id)}}})
    elif kind in ("webinar", "course", "salon", "forum", "conference", "other"):
        events.add(SourceKind.INTERNAL, {
            "type": "track", "event": "registration", "timestamp": (at - timedelta(days=5))
            .isoformat(), "properties": {"touchpoint_kind": "form", "form": "registration",
                                         "activity_code": code},
            "context": {"traits": traits}})
        events.add(SourceKind.INTERNAL, {
            "type": "track", "event": activity.name, "timestamp": stamp,
            "properties": {"touchpoint_kind": "event", "status": "attended",
                           "activity_code": code},
            "context": {"traits": traits}})


def _journeys(programme: _Programme, events: _Events, now: datetime) -> int:
    """Touches before every lead, opportunity and win of the pipeline history, and on people
    who never became leads."""
    rng = programme.rng
    people = {c[0]: c for c in Contact.objects.exclude(email="").values_list(
        "id", "email", "mobile")}
    province_of = dict(Contact.objects.values_list("id", "account__province__code"))
    opportunities = {o.lead_id: o for o in Opportunity.objects.exclude(lead=None)}
    by_account: dict[int, list[int]] = {}
    for contact_id, account_id in Contact.objects.filter(
            account__opportunities__isnull=False).values_list("id", "account_id").distinct():
        by_account.setdefault(account_id, []).append(contact_id)
    journeys = 0

    earliest = now - timedelta(days=330)  # within the touchpoint partitions made at set-up

    def touch(kinds: list[str], contact_id: int, at: datetime) -> None:
        if not earliest <= at <= now or contact_id not in people:
            return
        activity = programme.around(kinds, at, province_of.get(contact_id) or "")
        if activity is not None:
            _touch(events, activity, people[contact_id], at)

    days = lambda low, high: timedelta(days=rng.uniform(low, high))  # noqa: E731
    for lead in Lead.objects.exclude(lead_at=None).exclude(contact=None).filter(
            lead_at__lt=now - timedelta(days=20)):
        journeys += 1
        who, at = lead.contact_id, lead.lead_at
        if rng.random() < 0.8:
            touch(["search_ad", "article", "social"], who, at - days(40, 90))
        for _ in range(rng.randint(1, 3)):
            touch(["edm", "magazine", "webinar", "hotline"], who, at - days(3, 35))
        if rng.random() < 0.5:
            touch(["webinar", "course"], who, at - days(0.01, 2))
        deal = opportunities.get(lead.pk)
        if deal is None:
            continue
        colleagues = by_account.get(deal.account_id, [who])
        touch(["salon", "course", "conference"], rng.choice(colleagues),
              deal.created_at - days(1, 15))
        if deal.closed_at is not None:
            won = deal.stage == "won"
            if rng.random() < (0.8 if won else 0.2):
                touch(["forum", "other"], rng.choice(colleagues),
                      deal.closed_at - days(2, 25))
            if rng.random() < 0.5:
                touch(["edm"], rng.choice(colleagues), deal.closed_at - days(5, 30))
    # People who never became leads: awareness and newsletters, now and then a salon.
    with_leads = set(Lead.objects.exclude(contact=None).values_list("contact_id", flat=True))
    others = [c for c in people if c not in with_leads]
    for contact_id in rng.sample(others, min(2500, len(others))):
        for _ in range(rng.randint(1, 3)):
            at = now - days(5, 360)
            touch(rng.choice([["search_ad", "article", "social"], ["edm", "magazine"],
                              ["webinar"], ["salon", "course"]]), contact_id, at)
    return journeys


def _invitations(programme: _Programme, now: datetime) -> int:
    """Salons, courses and workshops invite people of their province before they start."""
    rng = programme.rng
    members = []
    for activity in programme.activities:
        if activity.kind not in ("salon", "course", "other", "forum"):
            continue
        province = activity.owner_unit.province_id or None
        pool = Contact.objects.filter(account__province_id=province) if province else \
            Contact.objects.filter(account__tier="hq_strategic")
        invited_at = timezone.make_aware(datetime.combine(
            activity.starts_on - timedelta(days=21), datetime.min.time()))
        for contact_id, name, email in pool.order_by("?").values_list(
                "id", "name", "email")[:rng.randint(25, 60)]:
            members.append(CampaignMember(
                activity=activity, contact_id=contact_id, name=name, email=email,
                status=MemberStatus.INVITED, source=MemberSource.IMPORT,
                invited_at=min(invited_at, now), created_at=min(invited_at, now),
                updated_at=min(invited_at, now)))
    CampaignMember.objects.bulk_create(members, ignore_conflicts=True)
    return len(members)


def build_campaigns(*, seed: int, progress: Callable[[str], None] = print) -> None:
    """Load the campaigns of the demo; does nothing when activities exist."""
    from marketloop.campaigns.attribution import services as attribution
    from marketloop.campaigns.matching import attach_touchpoints_of_activity

    if Activity.objects.exists():
        return
    started = time.monotonic()
    rng = random.Random(f"{seed}:campaigns")
    now = timezone.now()
    with transaction.atomic():
        programme = _build_programme(rng, now)
        _money(programme, now)
        invited = _invitations(programme, now)
    progress(f"Campaigns: {len(programme.plans)} plans, {len(programme.activities)} activities "
             f"with budgets and spend, {invited:,} invitations.")
    events = _Events()
    journeys = _journeys(programme, events, now)
    events.flush()
    while process_inbox():
        pass
    attached = sum(attach_touchpoints_of_activity(activity_id=a.pk)
                   for a in programme.activities)
    progress(f"Campaigns: {events.count:,} activity touches for {journeys:,} journeys; "
             f"{attached:,} touchpoints attached to activities.")
    run = AttributionRun.objects.create(reason="Demo data")
    run = attribution.run_attribution(run_id=run.pk)
    progress(f"Campaigns: attribution of every model in {run.figures.get('seconds')} s; "
             f"loaded in {time.monotonic() - started:.1f} s.")
