"""Forms of the plan, activity and budget pages. They parse and shape input; the rules live in
campaigns.services and campaigns.budget."""

from __future__ import annotations

from typing import Any

from django import forms
from django.db.models import QuerySet
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from marketloop.campaigns.models import ActivityKind, ActivityLevel, ActivityStatus
from marketloop.crm.forms import StyledForm, UnitChoiceField

MONEY = {"min_value": 0, "max_digits": 16, "decimal_places": 2}
DATE = forms.DateInput(attrs={"type": "date"}, format="%Y-%m-%d")


class PlanChoiceField(forms.ModelChoiceField):
    """A plan chosen from the user's visible plans: one they may not see is not a valid
    choice, exactly like one that does not exist."""

    def __init__(self, queryset: QuerySet | None = None, **kwargs: Any) -> None:
        kwargs.setdefault("error_messages", {
            "invalid_choice": _("No marketing plan with this number is visible to you."),
        })
        super().__init__(queryset, **kwargs)

    def label_from_instance(self, obj: Any) -> str:
        return f"{obj.year} Q{obj.quarter} · {obj.owner_unit.display_name} · {obj.name}"


class GoalsForm(StyledForm):
    goal_leads = forms.IntegerField(label=_("Goal: leads"), min_value=0, initial=0)
    goal_mqls = forms.IntegerField(label=_("Goal: MQLs"), min_value=0, initial=0)
    goal_pipeline = forms.DecimalField(label=_("Goal: pipeline (CNY)"), initial=0, **MONEY)
    goal_revenue = forms.DecimalField(label=_("Goal: revenue (CNY)"), initial=0, **MONEY)


class PlanForm(GoalsForm):
    name = forms.CharField(label=_("Name"), max_length=200)
    year = forms.IntegerField(label=_("Year"), min_value=2000, max_value=2100)
    quarter = forms.TypedChoiceField(label=_("Quarter"), coerce=int,
                                     choices=[(q, f"Q{q}") for q in range(1, 5)])
    owner_unit = UnitChoiceField(label=_("Unit"), queryset=None)
    owner = forms.CharField(label=_("Plan owner (username)"), max_length=150,
                            widget=forms.TextInput(attrs={"autocomplete": "off"}),
                            help_text=_("Approves the activities' budget requests: someone in "
                                        "the plan's unit or above it."))
    budget = forms.DecimalField(label=_("Budget (CNY)"), initial=0, **MONEY)
    reason = forms.CharField(label=_("Reason for the change"), max_length=500, required=False,
                             help_text=_("Kept in the audit trail."))

    field_order = ["name", "year", "quarter", "owner_unit", "owner", "budget", "goal_leads",
                   "goal_mqls", "goal_pipeline", "goal_revenue", "reason"]

    def __init__(self, *args: Any, units: QuerySet | None = None, editing: bool = False,
                 **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        if editing:  # the plan stays in its unit
            del self.fields["owner_unit"]
        else:
            self.fields["owner_unit"].queryset = units
            del self.fields["reason"]


class ActivityForm(GoalsForm):
    plan = PlanChoiceField(label=_("Marketing plan"))
    name = forms.CharField(label=_("Name"), max_length=200)
    code = forms.CharField(label=_("Activity code"), max_length=60, required=False,
                           help_text=_("Its utm_campaign in links. Leave empty for one such as "
                                       "2026q3-gd-salon-001."))
    kind = forms.ChoiceField(label=_("Kind"), choices=ActivityKind.choices)
    level = forms.ChoiceField(label=_("Level"), choices=ActivityLevel.choices)
    owner_unit = UnitChoiceField(label=_("Owner unit"), queryset=None)
    partner = UnitChoiceField(label=_("Partner"), queryset=None, required=False,
                              help_text=_("When a partner runs it with the unit."))
    owner = forms.CharField(label=_("Owner (username)"), max_length=150, required=False,
                            widget=forms.TextInput(attrs={"autocomplete": "off"}))
    starts_on = forms.DateField(label=_("Starts on"), widget=DATE,
                                help_text=_("Within the plan's quarter."))
    ends_on = forms.DateField(label=_("Ends on"), widget=DATE)
    audience = forms.CharField(label=_("Target audience"), max_length=5000, required=False,
                               widget=forms.Textarea(attrs={"rows": 3}))
    budget = forms.DecimalField(label=_("Budget line (CNY)"), initial=0, **MONEY,
                                help_text=_("What the plan sets aside; spending needs an "
                                            "approved budget request."))
    reason = forms.CharField(label=_("Reason for the change"), max_length=500, required=False,
                             help_text=_("Kept in the audit trail."))

    field_order = ["plan", "name", "code", "kind", "level", "owner_unit", "partner", "owner",
                   "starts_on", "ends_on", "audience", "budget", "goal_leads", "goal_mqls",
                   "goal_pipeline", "goal_revenue", "reason"]

    def __init__(self, *args: Any, plans: QuerySet | None = None, units: QuerySet,
                 partners: QuerySet, fixed_plan: bool = False, editing: bool = False,
                 **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["owner_unit"].queryset = units
        self.fields["partner"].queryset = partners
        if editing:  # an activity stays in its plan
            del self.fields["plan"]
            self.fields["code"].required = True
            self.fields["code"].help_text = _("Changing it attaches the touchpoints that carry "
                                              "the new code.")
        else:
            self.fields["plan"].queryset = plans
            del self.fields["reason"]
            if fixed_plan:
                self.fields["plan"].widget = forms.HiddenInput()


class StatusForm(StyledForm):
    status = forms.ChoiceField(label=_("Status"), choices=ActivityStatus.choices)


class BudgetRequestForm(StyledForm):
    amount = forms.DecimalField(label=_("Amount (CNY)"), **MONEY)
    reason = forms.CharField(label=_("What for"), max_length=2000,
                             widget=forms.Textarea(attrs={"rows": 2}))


class DecisionForm(StyledForm):
    request = forms.ModelChoiceField(queryset=None, widget=forms.HiddenInput,
                                     error_messages={"invalid_choice": _(
                                         "No such budget request on this activity."),
                                         "required": _("Choose a budget request.")})
    decision = forms.ChoiceField(choices=[("approve", _("Approve")), ("reject", _("Reject"))])
    note = forms.CharField(label=_("Note"), max_length=2000, required=False)

    def __init__(self, *args: Any, requests: QuerySet, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["request"].queryset = requests


class MultipleFileInput(forms.ClearableFileInput):
    allow_multiple_selected = True


class MultipleFileField(forms.FileField):
    """Several files in one input; the list may be empty."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("widget", MultipleFileInput())
        kwargs.setdefault("required", False)
        super().__init__(*args, **kwargs)

    def clean(self, data: Any, initial: Any = None) -> list[Any]:
        single = super().clean
        if isinstance(data, list | tuple):
            return [single(item, initial) for item in data if item]
        return [single(data, initial)] if data else []


class SpendForm(StyledForm):
    amount = forms.DecimalField(label=_("Amount (CNY)"), **MONEY)
    spent_on = forms.DateField(label=_("Date"), widget=DATE, initial=timezone.localdate)
    description = forms.CharField(label=_("What for"), max_length=300)
    vendor = forms.CharField(label=_("Vendor"), max_length=200, required=False)
    files = MultipleFileField(label=_("Invoices, contracts, receipts"),
                              help_text=_("Up to 20 MB each."))
