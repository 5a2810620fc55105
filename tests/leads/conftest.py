"""Shared set-up of the leads tests: a scoring model in force, scores set by hand (the scoring
context computes them in production), and known people in accounts owned around the
organisation."""

from __future__ import annotations

from dataclasses import dataclass

import pytest
from django.test import override_settings

from marketloop.crm.models import Account, Contact, Tier
from marketloop.leads import services
from marketloop.leads.models import Lead
from marketloop.org.models import OrgUnit, Role, User
from marketloop.scoring.models import Score, ScoringModel
from marketloop.tracking.models import Profile
from tests.factories import AccountFactory, ContactFactory
from tests.org.matrix import module_transaction, standard_org

# The thresholds of the model in force in these tests.
LEAD_AT = 10
MQL_FIT = 30
MQL_ENGAGEMENT = 40


@pytest.fixture(scope="module")
def fast_passwords():
    """Users made by `make_user` get a cheap password hash (no test here logs in by
    password): Argon2 costs half a second a user."""
    with override_settings(PASSWORD_HASHERS=["django.contrib.auth.hashers.MD5PasswordHasher"]):
        yield


@pytest.fixture(scope="module")
def organisation_once(django_db_setup, django_db_blocker):
    """The standard organisation built once for a module (its tests then run in savepoints
    inside the module's transaction); `org` finds it in place. Only for modules without
    transactional tests: `pytestmark = pytest.mark.usefixtures("organisation_once")`."""
    with module_transaction(django_db_blocker):
        with django_db_blocker.unblock():
            standard_org()
        yield


@pytest.fixture
def model(db) -> ScoringModel:
    ScoringModel.objects.filter(active=True).update(active=False)  # the seeded default
    return ScoringModel.objects.create(name="Test model", active=True, lead_engagement=LEAD_AT,
                                       mql_fit=MQL_FIT, mql_engagement=MQL_ENGAGEMENT)


def set_score(profile: Profile, *, fit: int, engagement: float) -> Score:
    score, _ = Score.objects.update_or_create(
        profile_id=profile.pk,
        defaults={"fit": fit, "engagement": engagement, "total": fit + engagement,
                  "account_id": profile.account_id})
    return score


def profile_of(contact: Contact) -> Profile:
    """The tracking profile of a CRM contact, scoped like it (as stitching links them)."""
    return Profile.objects.create(contact=contact, account_id=contact.account_id,
                                  owner_unit_id=contact.owner_unit_id,
                                  partner_id=contact.partner_id, owner_id=contact.owner_id)


def person(unit: OrgUnit, name: str = "", tier: str = Tier.ORDINARY,
           partner: OrgUnit | None = None) -> tuple[Contact, Profile]:
    """A known person (a CRM contact with a profile) at an account owned by `unit`."""
    account = AccountFactory(owner_unit=unit, partner=partner, tier=tier,
                             **({"name": f"{name}公司"} if name else {}))
    contact = ContactFactory(account=account, **({"name": name} if name else {}))
    return contact, profile_of(contact)


def score_to_mql(profile: Profile) -> Lead:
    """Score a known person over the MQL thresholds and run the lifecycle: an MQL, routed."""
    set_score(profile, fit=MQL_FIT + 5, engagement=MQL_ENGAGEMENT + 5)
    services.apply_scores(profile_ids=[profile.pk])
    return Lead.objects.get(profile=profile)


@dataclass
class Team:
    """People of the Guangdong sales department who can take leads, and its manager."""

    reps: list[User]
    manager: User


@pytest.fixture
def gd_team(org, make_user) -> Team:
    reps = [make_user(org.gd_sales, Role.SALES_REP, username=f"gd-rep-{i}") for i in range(3)]
    for rep in reps:
        rep.email = f"{rep.username}@corp.example.cn"
        rep.save(update_fields=["email"])
    manager = make_user(org.gd, Role.MANAGER, username="gd-boss")
    return Team(reps=reps, manager=manager)


def mql_for(unit: OrgUnit, name: str = "", tier: str = Tier.ORDINARY) -> Lead:
    _contact, profile = person(unit, name, tier)
    return score_to_mql(profile)


def account_of(lead: Lead) -> Account:
    assert lead.account is not None
    return lead.account
