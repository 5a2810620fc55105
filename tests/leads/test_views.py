"""The leads pages: the list with its filters and pages, one lead with its history and the
hand-off forms, the hand-off of a customer's new need from the CRM, the lifecycle slot on a
profile's page, and the notification bell and inbox."""

from __future__ import annotations

import re
from datetime import timedelta
from html import unescape

import pytest
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from marketloop.leads import services
from marketloop.leads.models import Lead, Stage
from marketloop.org.models import Notification, Role
from marketloop.org.notifications import notify
from tests.leads.conftest import LEAD_AT, person, score_to_mql, set_score

pytestmark = [pytest.mark.django_db,
              pytest.mark.usefixtures("fast_passwords", "organisation_once", "model")]

ROW = re.compile(r'<a class="ml-name" href="/leads/(\d+)/">')


def client_of(user) -> Client:
    client = Client()
    client.force_login(user)
    return client


def listed(client: Client, query: str = "") -> list[int]:
    """Lead ids on every page of the list, following rel="next"."""
    url, ids = reverse("leads:lead_list") + (f"?{query}" if query else ""), []
    while url:
        page = client.get(url)
        assert page.status_code == 200
        text = page.content.decode()
        ids += [int(pk) for pk in ROW.findall(text)]
        following = re.search(r'rel="next"\s+href="([^"]+)"', text)
        url = unescape(following.group(1)) if following else ""
    return ids


def subscriber(org, unit=None) -> Lead:
    _contact, profile = person(unit or org.gd_sales)
    set_score(profile, fit=1, engagement=LEAD_AT - 1)
    services.apply_scores(profile_ids=[profile.pk])
    return Lead.objects.get(profile=profile)


# ---- the list ---------------------------------------------------------------------------------


def test_the_list_filters_by_stage_acceptance_owner_and_name(org, gd_team, hq_marketer):
    mine = score_to_mql(person(org.gd_sales, "赵一")[1])
    owner = mine.owner
    other = score_to_mql(person(org.gd_sales, "钱二")[1])
    services.accept(actor=other.owner, lead=other)
    nurtured = subscriber(org)
    client = client_of(owner)

    assert set(listed(client)) == {mine.pk, other.pk}  # marketing's subscriber is not theirs
    assert listed(client, "awaiting=1") == [mine.pk]
    assert other.owner != owner  # round robin
    assert listed(client, "mine=1") == [mine.pk]
    assert listed(client, f"stage={Stage.SAL}") == [other.pk]
    assert listed(client, "q=赵一") == [mine.pk]
    assert listed(client, f"province={org.gx.pk}") == []
    marketing = client_of(hq_marketer)
    assert nurtured.pk in listed(marketing, "stage=subscriber")
    assert listed(marketing, "tier=ordinary&q=钱二") == [other.pk]


def test_filtering_swaps_only_the_results_with_htmx(org, hq_marketer):
    lead = subscriber(org)
    response = client_of(hq_marketer).get(reverse("leads:lead_list"), {"stage": "subscriber"},
                                          HTTP_HX_REQUEST="true", HTTP_HX_TARGET="lead-results")
    text = response.content.decode()
    assert "<html" not in text and f'href="/leads/{lead.pk}/"' in text


def test_the_list_pages_by_keyset_and_shows_every_lead_once(org, hq_marketer):
    # 53 leads, many changed at the same moment: the pages still hold each exactly once.
    moments = [timezone.now() - timedelta(minutes=i % 4) for i in range(53)]
    leads = Lead.objects.bulk_create([
        Lead(name=f"paged {i}", owner_unit=org.hq_marketing, updated_at=moment)
        for i, moment in enumerate(moments)])
    ids = listed(client_of(hq_marketer), "stage=subscriber")
    assert sorted(ids) == sorted(lead.pk for lead in leads)
    order = sorted(leads, key=lambda lead: (lead.updated_at, lead.pk), reverse=True)
    assert ids == [lead.pk for lead in order]  # newest change first


# ---- one lead ---------------------------------------------------------------------------------


def test_the_detail_shows_the_history_with_its_causes_and_the_assignment(org, gd_team):
    lead = score_to_mql(person(org.gd_sales, "孙三")[1])
    page = client_of(lead.owner).get(reverse("leads:lead_detail", args=[lead.pk]))
    text = page.content.decode()
    assert page.status_code == 200
    assert "Fit 35 ≥ 30 and engagement 45.0 ≥ 40" in text
    assert "A known person (a CRM contact) was scored." in text
    assert "Routed by tier and territory" in text and 'id="accept-form"' in text
    assert 'id="reject-form"' in text and 'id="create-opportunity"' not in text


def test_the_owner_accepts_on_the_page_and_can_then_open_an_opportunity(org, gd_team):
    lead = score_to_mql(person(org.gd_sales)[1])
    client = client_of(lead.owner)
    response = client.post(reverse("leads:lead_accept", args=[lead.pk]))
    assert response.status_code == 302
    page = client.get(reverse("leads:lead_detail", args=[lead.pk])).content.decode()
    assert f'href="/opportunities/new/?lead={lead.pk}"' in page


def test_a_rejection_without_a_reason_is_shown_on_the_page(org, gd_team):
    lead = score_to_mql(person(org.gd_sales)[1])
    client = client_of(lead.owner)
    bad = client.post(reverse("leads:lead_reject", args=[lead.pk]), {"reason": "other"})
    assert bad.status_code == 422 and "the reason is “other”" in bad.content.decode()
    done = client.post(reverse("leads:lead_reject", args=[lead.pk]),
                       {"reason": "no_need", "note": "Just bought elsewhere"})
    # Back to marketing: the rep no longer sees it and lands on the list.
    assert done.status_code == 302 and done["Location"] == reverse("leads:lead_list")
    assert Lead.objects.get(pk=lead.pk).stage == Stage.RECYCLED


def test_someone_who_is_not_the_owner_gets_the_reason_on_the_page(org, gd_team):
    lead = score_to_mql(person(org.gd_sales)[1])
    colleague = next(rep for rep in gd_team.reps if rep != lead.owner)
    response = client_of(colleague).post(reverse("leads:lead_accept", args=[lead.pk]))
    assert response.status_code == 422
    assert "Only the lead&#x27;s owner can accept or reject it." in response.content.decode()


def test_a_marketer_qualifies_and_disqualifies_on_the_page(org, gd_team, hq_marketer):
    client = client_of(hq_marketer)
    lead = subscriber(org)
    assert client.post(reverse("leads:lead_qualify", args=[lead.pk]),
                       {"reason": "Called us"}).status_code == 302
    assert Lead.objects.get(pk=lead.pk).stage == Stage.MQL
    other = subscriber(org)
    assert client.post(reverse("leads:lead_disqualify", args=[other.pk]),
                       {"reason": ""}).status_code == 422
    assert client.post(reverse("leads:lead_disqualify", args=[other.pk]),
                       {"reason": "Competitor"}).status_code == 302
    assert Lead.objects.get(pk=other.pk).stage == Stage.DISQUALIFIED


def test_a_manager_reassigns_on_the_page(org, gd_team):
    lead = score_to_mql(person(org.gd_sales)[1])
    other = next(rep for rep in gd_team.reps if rep != lead.owner)
    client = client_of(gd_team.manager)
    page = client.get(reverse("leads:lead_detail", args=[lead.pk])).content.decode()
    assert 'id="reassign-form"' in page
    response = client.post(reverse("leads:lead_reassign", args=[lead.pk]), {"owner": other.pk})
    assert response.status_code == 302
    assert Lead.objects.get(pk=lead.pk).owner == other


# ---- a customer's new need from the CRM pages ---------------------------------------------------


def test_a_contacts_page_links_to_the_hand_off_which_creates_the_lead(org, gd_team, gd_rep):
    contact, _profile = person(org.gd_sales, "吴四")
    client = client_of(gd_rep)
    page = client.get(reverse("crm:contact_detail", args=[contact.pk])).content.decode()
    assert f'href="/leads/handoff/?contact={contact.pk}"' in page
    form = client.get(reverse("leads:handoff"), {"contact": contact.pk})
    assert form.status_code == 200 and "吴四" in form.content.decode()

    response = client.post(reverse("leads:handoff"), {"contact": contact.pk,
                                                      "need": "large_upgrade", "note": "v9"})

    assert response.status_code == 302
    lead = Lead.objects.get(contact=contact)
    assert lead.kind == "customer_need" and lead.stage == Stage.MQL


def test_an_accounts_page_hands_off_one_of_its_contacts(org, gd_team, gd_rep):
    contact, _profile = person(org.gd_sales, "郑五")
    client = client_of(gd_rep)
    account_page = client.get(reverse("crm:account_detail", args=[contact.account_id]))
    assert f'href="/leads/handoff/?account={contact.account_id}"' in account_page.content.decode()
    form = client.get(reverse("leads:handoff"), {"account": contact.account_id}).content.decode()
    assert f'<option value="{contact.pk}">郑五</option>' in form


# ---- the profile slot --------------------------------------------------------------------------


def test_a_profiles_page_loads_its_lead_and_stage(org, gd_team, hq_marketer):
    _contact, profile = person(org.gd_sales, "冯六")
    lead = score_to_mql(profile)
    client = client_of(hq_marketer)
    page = client.get(reverse("tracking:profile_detail", args=[profile.pk])).content.decode()
    assert f'hx-get="{reverse("leads:profile_lead", args=[profile.pk])}"' in page
    slot = client.get(reverse("leads:profile_lead", args=[profile.pk])).content.decode()
    assert lead.name in slot and 'data-stage="mql"' in slot


# ---- notifications in the app ------------------------------------------------------------------


def test_the_bell_counts_unread_notifications_and_the_inbox_marks_them_read(org, gd_rep,
                                                                            hq_marketer):
    first = notify(user=gd_rep, kind="test", title="First", url="/leads/")
    notify(user=gd_rep, kind="test", title="Second")
    theirs = notify(user=hq_marketer, kind="test", title="Not yours")
    client = client_of(gd_rep)

    def unread() -> str | None:
        page = client.get(reverse("org:notification_list")).content.decode()
        found = re.search(r'id="unread-count">(\d+)<', page)
        return found.group(1) if found else None

    assert unread() == "2"
    inbox = client.get(reverse("org:notification_list")).content.decode()
    assert "First" in inbox and "Not yours" not in inbox
    opened = client.post(reverse("org:notification_open", args=[first.pk]))
    assert opened.status_code == 302 and opened["Location"] == "/leads/"
    assert unread() == "1"
    assert client.post(reverse("org:notification_read", args=[theirs.pk])).status_code == 404
    assert client.post(reverse("org:notification_read_all")).status_code == 302
    assert unread() is None
    assert Notification.objects.get(pk=theirs.pk).read_at is None


def test_the_bell_stops_counting_at_99(org, gd_rep):
    Notification.objects.bulk_create([Notification(user=gd_rep, kind="test", title=f"n{i}")
                                      for i in range(100)])
    page = client_of(gd_rep).get(reverse("org:notification_list")).content.decode()
    assert 'id="unread-count">99+<' in page


def test_a_link_out_of_marketloop_is_never_followed(org, gd_rep):
    note = notify(user=gd_rep, kind="test", title="Phish", url="https://evil.example/")
    response = client_of(gd_rep).post(reverse("org:notification_open", args=[note.pk]))
    assert response["Location"] == reverse("org:notification_list")


def test_people_without_a_selling_or_marketing_role_cannot_act(org, gd_team, make_user):
    lead = score_to_mql(person(org.gd_sales)[1])
    supervisor = make_user(org.hq_supervision, Role.SUPERVISOR)
    client = client_of(supervisor)
    assert client.get(reverse("leads:lead_detail", args=[lead.pk])).status_code == 200
    assert client.post(reverse("leads:lead_accept", args=[lead.pk])).status_code == 403
    assert client.get(reverse("leads:handoff")).status_code == 403
