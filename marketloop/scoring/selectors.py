"""Every read of the scoring context. Scores of people and accounts go through the visibility
scope first (a profile, contact or account the reader may not see is missing); the model and
its runs are company-wide settings, the same for everyone."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

from django.db.models import QuerySet
from django.utils.translation import gettext as _

from marketloop.crm import selectors as crm_selectors
from marketloop.crm.models import Account, Contact, Industry, RevenueBand, Tier
from marketloop.org.errors import NotFound, OrgErrorCode
from marketloop.org.models import OrgUnit, UnitKind, User
from marketloop.org.scope import visible
from marketloop.scoring import display
from marketloop.scoring.explain import Explanation, FitLine, explain_account_fit, explain_profile
from marketloop.scoring.models import (
    AccountScore,
    EngagementRule,
    FitRule,
    RescoreRun,
    Score,
    ScoringModel,
)
from marketloop.tracking import selectors as tracking_selectors
from marketloop.tracking.models import Profile

RUNS_SHOWN = 10
TOP_PEOPLE = 10


# ---- for other contexts (no reader: internal use) ------------------------------------------

def active_model() -> ScoringModel:
    """The model in force (its thresholds decide leads and MQLs). Where none exists yet, an
    unsaved model with the default thresholds."""
    return ScoringModel.objects.filter(active=True).first() or ScoringModel(name="—")


def scores_of(profile_ids: Iterable[int]) -> dict[int, Score]:
    return {score.profile_id: score
            for score in Score.objects.filter(profile_id__in=list(profile_ids))}


# ---- the model and its runs (company-wide) ------------------------------------------------

@dataclass
class ModelView:
    model: ScoringModel
    fit_rules: list[FitRule]
    engagement_rules: list[EngagementRule]


def model_view() -> ModelView:
    model = active_model()
    if model.pk is None:
        return ModelView(model=model, fit_rules=[], engagement_rules=[])
    return ModelView(model=model, fit_rules=list(model.fit_rules.all()),
                     engagement_rules=list(model.engagement_rules.all()))


def fit_rule(pk: int) -> FitRule:
    rule = FitRule.objects.filter(pk=pk, model__active=True).first()
    if rule is None:
        raise NotFound(OrgErrorCode.NOT_FOUND, "No such rule.")
    return rule


def engagement_rule(pk: int) -> EngagementRule:
    rule = EngagementRule.objects.filter(pk=pk, model__active=True).first()
    if rule is None:
        raise NotFound(OrgErrorCode.NOT_FOUND, "No such rule.")
    return rule


def rescore_runs() -> QuerySet[RescoreRun]:
    return RescoreRun.objects.select_related("requested_by").order_by(
        "-created_at", "-id")[:RUNS_SHOWN]


# ---- people and accounts (through the visibility scope) -----------------------------------

@dataclass
class ProfileScore:
    profile: Profile
    contact: Contact | None  # linked and visible to the reader
    score: Score | None
    explanation: Explanation

    @property
    def current(self) -> bool:
        """The stored score is what the explanation adds up to (not while a re-score after a
        model change is pending)."""
        return self.explanation.matches(self.score)


def _profile_score(user: User, profile: Profile, model: ScoringModel) -> ProfileScore:
    score = Score.objects.filter(profile_id=profile.pk).first()
    explanation = explain_profile(profile.pk, model=model,
                                  as_of=score.computed_at if score else None)
    return ProfileScore(profile=profile, contact=tracking_selectors.contact_of(user, profile),
                        score=score, explanation=explanation)


def profile_score(user: User, profile_id: int) -> ProfileScore:
    """A profile's score and its explanation (an absorbed profile's id: its survivor's)."""
    profile = tracking_selectors.visible_profile(user, profile_id)
    return _profile_score(user, profile, active_model())


@dataclass
class ContactScores:
    contact: Contact
    profiles: list[ProfileScore]


def contact_scores(user: User, contact_id: int) -> ContactScores:
    contact = crm_selectors.contact_detail(user, contact_id)
    model = active_model()
    profiles = visible(user, Profile.objects.filter(contact=contact, merged_into__isnull=True)
                       ).select_related("owner_unit").order_by("id")
    return ContactScores(contact=contact,
                         profiles=[_profile_score(user, p, model) for p in profiles])


@dataclass
class Person:
    score: Score
    profile: Profile
    contact: Contact | None


@dataclass
class AccountScoreView:
    account: Account
    roll_up: AccountScore | None
    fit_lines: list[FitLine]
    people: list[Person] = field(default_factory=list)  # the top ones the reader may see


def account_score(user: User, account_id: int) -> AccountScoreView:
    account = crm_selectors.account_detail(user, account_id)
    profiles = visible(user, Profile.objects.filter(account_id=account.pk,
                                                     merged_into__isnull=True))
    scores = list(Score.objects.filter(account_id=account.pk,
                                       profile_id__in=profiles.values("id"))
                  .order_by("-total", "profile_id")[:TOP_PEOPLE])
    by_id = {p.pk: p for p in Profile.objects.filter(pk__in=[s.profile_id for s in scores])}
    contacts = {c.pk: c for c in crm_selectors.contacts_visible(user).filter(
        pk__in=[p.contact_id for p in by_id.values() if p.contact_id])}
    people = [Person(score=s, profile=by_id[s.profile_id],
                     contact=contacts.get(by_id[s.profile_id].contact_id))
              for s in scores if s.profile_id in by_id]
    model = active_model()
    return AccountScoreView(
        account=account, roll_up=AccountScore.objects.filter(account_id=account.pk).first(),
        fit_lines=explain_account_fit(account.pk, model=model) if model.pk else [],
        people=people)


def fit_value_suggestions() -> list[tuple[str, str]]:
    """Suggestions for a fit rule's value: every code a rule may name, with its label."""
    values = [(v, f"{_('Tier')}: {label}") for v, label in Tier.choices]
    values += [(v, f"{_('Revenue band')}: {label}") for v, label in RevenueBand.choices]
    names = display.Names()
    values += [(i.code, f"{_('Industry')}: {names.industry(i.code)}")
               for i in Industry.objects.all()]
    values += [(u.code, f"{_('Province')}: {u.display_name}")
               for u in OrgUnit.objects.filter(kind=UnitKind.PROVINCE).order_by("code")]
    values += [("yes", _("Management level")), ("no", _("Not management level"))]
    return values
