"""A year of customer activity for the demo data set: website visits (search, EDM links),
form fills that identify visitors, EDM opens and clicks, hotline calls and event attendance,
sent through the real inbox and processing so profiles are stitched as in production.

Email, hotline and event touchpoints carry no anonymous or user id: like the ones marketloop's
own services record (services.record_touchpoint), they name the person by contact id, email
or mobile in context.traits."""

from __future__ import annotations

import random
import time
import uuid
from collections.abc import Callable
from datetime import datetime, timedelta

import orjson
from django.utils import timezone

from marketloop.tracking import ingest
from marketloop.tracking.models import Source, SourceKind
from marketloop.tracking.processing import process_inbox

PAGES = [
    ("/solutions/erp", "企业资源计划 ERP 解决方案"),
    ("/solutions/hr", "人力资源管理云"),
    ("/solutions/finance", "财务共享中心"),
    ("/cases/manufacturing", "客户案例：制造业数字化转型"),
    ("/cases/retail", "客户案例：零售连锁门店管理"),
    ("/insights/2026-digital-transformation", "2026 企业数字化转型白皮书"),
    ("/magazine/2026-05", "《管理前沿》双月刊 2026 年第 5 期"),
    ("/courses/public/finance-digital", "公开课：财务数字化实战"),
    ("/salons/guangzhou-2026", "广州 CIO 沙龙报名"),
    ("/pricing", "产品价格与版本"),
    ("/about", "关于我们"),
]
KEYWORDS = ["ERP软件", "财务共享中心建设", "人力资源系统", "制造业数字化", "集团管控软件"]
CAMPAIGNS = ["edm-digest-2026-0" + str(m) for m in range(1, 10)]
EVENTS = ["广州 CIO 沙龙", "财务数字化公开课", "年度高层论坛", "杭州制造业沙龙"]
SITE = "https://www.marketloop-demo.cn"
RECENT_INTEREST_SHARE = 0.08


def _id() -> str:
    return str(uuid.uuid4())


class EventWriter:
    """Buffers events per source and stores them in the inbox 500 at a time (the demo's
    campaign touches use it too)."""

    def __init__(self) -> None:
        self.buffers: dict[int, list[dict]] = {}
        self.count = 0

    def add(self, source: Source, event: dict) -> None:
        buffer = self.buffers.setdefault(source.id, [])
        buffer.append(event)
        self.count += 1
        if len(buffer) >= 500:
            self.flush(source.id)

    def flush(self, source_id: int | None = None) -> None:
        for sid in [source_id] if source_id is not None else list(self.buffers):
            batch = self.buffers.get(sid) or []
            if batch:
                ingest.store(source_id=sid, endpoint="batch", body=orjson.dumps(
                    {"batch": batch}), count=len(batch), ip=None)
            self.buffers[sid] = []


def _iso(moment: datetime) -> str:
    return moment.isoformat()


def build_activity(*, seed: int, progress: Callable[[str], None] = print,
                   max_people: int = 6000, anonymous_visitors: int = 2000) -> int:
    """Create the demo's activity; return how many events were sent. Does nothing when
    touchpoints already exist."""
    from marketloop.crm.models import Contact

    if Source.objects.filter(name="Corporate website").exists():
        return 0
    started = time.monotonic()
    rng = random.Random(f"{seed}:activity")
    web = Source.objects.create(name="Corporate website", kind=SourceKind.WEBSITE)
    edm = Source.objects.create(name="EDM", kind=SourceKind.EMAIL)
    hotline = Source.objects.create(name="Hotline 400", kind=SourceKind.HOTLINE)
    internal = Source.objects.create(name="marketloop", kind=SourceKind.INTERNAL)
    now = timezone.now()
    year_ago = now - timedelta(days=365)
    ids = list(Contact.objects.exclude(email="").order_by("id").values_list(
        "id", "email", "mobile")[:max_people * 8])
    people = rng.sample(ids, min(max_people, len(ids)))
    writer = EventWriter()

    def when() -> datetime:
        return year_ago + timedelta(seconds=rng.randrange(365 * 86400))

    def page(anon: str, at: datetime) -> dict:
        path, title = rng.choice(PAGES)
        roll = rng.random()
        url, referrer, campaign = SITE + path, "", {}
        if roll < 0.35:
            referrer = "https://www.baidu.com/s?wd=" + rng.choice(KEYWORDS)
        elif roll < 0.55:
            name = rng.choice(CAMPAIGNS)
            campaign = {"source": "edm", "medium": "email", "name": name}
            url += f"?utm_source=edm&utm_medium=email&utm_campaign={name}"
        return {"type": "page", "messageId": _id(), "anonymousId": anon, "name": title,
                "timestamp": _iso(at), "properties": {"url": url, "title": title,
                                                       "path": path, "referrer": referrer},
                "context": {"campaign": campaign, "library": {"name": "marketloop.js"}}}

    def pricing(anon: str, at: datetime, latest: datetime) -> dict:
        event = page(anon, min(at, latest))
        event["properties"].update(url=SITE + "/pricing", path="/pricing", title="产品价格与版本")
        event["name"] = "产品价格与版本"
        return event

    for contact_id, email, mobile in people:
        anon = f"demo-{contact_id}"
        visits = sorted(when() for _ in range(rng.randint(2, 14)))
        for at in visits:
            writer.add(web, page(anon, at))
        form_at = visits[rng.randrange(len(visits))] + timedelta(minutes=3)
        writer.add(web, {"type": "track", "event": "Form Submitted", "messageId": _id(),
                         "anonymousId": anon, "timestamp": _iso(form_at),
                         "properties": {"form": "request-demo", "email": email}})
        if rng.random() < 0.5:
            writer.add(web, {"type": "track", "event": "File Downloaded", "messageId": _id(),
                             "anonymousId": anon, "timestamp": _iso(form_at
                                                                    + timedelta(minutes=1)),
                             "properties": {"url": SITE + "/files/case-study.pdf"}})
        for _ in range(rng.randint(0, 8)):
            at, name = when(), rng.choice(CAMPAIGNS)
            traits = {"contactId": str(contact_id), "email": email}
            writer.add(edm, {"type": "track", "event": "Email Opened", "messageId": _id(),
                             "timestamp": _iso(at),
                             "properties": {"touchpoint_kind": "email_open", "mailing": name},
                             "context": {"traits": traits}})
            if rng.random() < 0.3:
                writer.add(edm, {"type": "track", "event": "Email Link Clicked",
                                 "messageId": _id(), "timestamp": _iso(at + timedelta(
                                     minutes=2)),
                                 "properties": {"touchpoint_kind": "email_click",
                                                "mailing": name, "url": SITE + "/insights"},
                                 "context": {"traits": traits}})
        if mobile and rng.random() < 0.2:
            writer.add(hotline, {
                "type": "track", "event": "Hotline Call", "messageId": _id(),
                "timestamp": _iso(when()), "context": {"traits": {"mobile": mobile}},
                "properties": {"touchpoint_kind": "call", "queue": "sales",
                               "agent": f"agent{rng.randint(1, 12):02d}",
                               "wait_seconds": rng.randint(3, 90),
                               "talk_seconds": rng.randint(30, 900),
                               "outcome": rng.choice(["answered", "answered", "callback"])},
            })
        if rng.random() < 0.15:
            writer.add(internal, {
                "type": "track", "event": rng.choice(EVENTS), "messageId": _id(),
                "timestamp": _iso(when()), "context": {"traits": {"contactId": str(contact_id)}},
                "properties": {"touchpoint_kind": "event", "status": "attended"},
            })
    # A recent burst of buying interest from some people (pricing, a case study, a demo
    # request in the last two weeks): the engagement that makes MQLs in the demo.
    for contact_id, email, _mobile in people[:: max(1, round(1 / RECENT_INTEREST_SHARE))]:
        anon = f"demo-{contact_id}"
        start = now - timedelta(days=rng.uniform(1, 14))
        for step in range(rng.randint(3, 7)):
            at = start + timedelta(hours=step * rng.uniform(2, 30))
            writer.add(web, page(anon, min(at, now)) if step % 3 else pricing(anon, at, now))
        writer.add(web, {"type": "track", "event": "File Downloaded", "messageId": _id(),
                         "anonymousId": anon, "timestamp": _iso(min(start + timedelta(hours=1),
                                                                    now)),
                         "properties": {"url": SITE + "/files/case-study.pdf"}})
        writer.add(web, {"type": "track", "event": "Form Submitted", "messageId": _id(),
                         "anonymousId": anon,
                         "timestamp": _iso(min(start + timedelta(hours=2), now)),
                         "properties": {"form": "request-demo", "email": email}})
    for n in range(anonymous_visitors):
        anon = f"demo-visitor-{n}"
        for _ in range(rng.randint(1, 5)):
            writer.add(web, page(anon, when()))
    writer.flush()
    progress(f"Activity: {writer.count:,} events stored in the inbox; processing...")
    while process_inbox():
        pass
    progress(f"Activity: {writer.count:,} touchpoints processed in "
             f"{time.monotonic() - started:.1f} s.")
    return writer.count

