"""Forms of the leads pages. They only parse input; every rule lives in leads.services."""

from __future__ import annotations

from typing import Any

from django import forms
from django.db.models import QuerySet
from django.utils.translation import gettext_lazy as _

from marketloop.crm.forms import AccountIdField, StyledForm, UnitChoiceField
from marketloop.crm.models import Tier
from marketloop.leads.models import CustomerNeed, HandoffPolicy, RejectReason


class PersonChoiceField(forms.ModelChoiceField):
    def label_from_instance(self, obj: Any) -> str:
        unit = obj.unit.display_name if obj.unit_id else ""
        return f"{obj} · {unit}" if unit else str(obj)


class AcceptForm(StyledForm):
    """Accepting needs no input."""


class RejectForm(StyledForm):
    reason = forms.ChoiceField(label=_("Reason"), choices=[("", "—"), *RejectReason.choices])
    note = forms.CharField(label=_("Note"), required=False, max_length=2000,
                           widget=forms.Textarea(attrs={"rows": 2}),
                           help_text=_("Required when the reason is “other”."))


class QualifyForm(StyledForm):
    reason = forms.CharField(label=_("Why (optional)"), required=False, max_length=500)


class DisqualifyForm(StyledForm):
    reason = forms.CharField(label=_("Why"), max_length=500)


class ReassignForm(StyledForm):
    owner = PersonChoiceField(label=_("New owner"), queryset=None)
    reason = forms.CharField(label=_("Why (optional)"), required=False, max_length=500)

    def __init__(self, *args: Any, people: QuerySet, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["owner"].queryset = people


class LinkAccountForm(StyledForm):
    account = AccountIdField(label=_("Account number"), queryset=None)

    def __init__(self, *args: Any, accounts: QuerySet, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["account"].queryset = accounts


class TriageAssignForm(StyledForm):
    unit = UnitChoiceField(label=_("Team"), queryset=None)
    owner = PersonChoiceField(label=_("Person"), queryset=None, required=False,
                              help_text=_("Empty: the person in the team with the fewest "
                                          "open leads."))
    reason = forms.CharField(label=_("Why (optional)"), required=False, max_length=500)

    def __init__(self, *args: Any, teams: QuerySet, people: QuerySet, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["unit"].queryset = teams
        self.fields["owner"].queryset = people


class HandoffForm(StyledForm):
    contact = forms.ModelChoiceField(
        label=_("Contact number"), queryset=None, widget=forms.NumberInput,
        error_messages={"invalid_choice": _("No contact with this number is visible to you.")})
    need = forms.ChoiceField(label=_("New need"), choices=[("", "—"), *CustomerNeed.choices])
    note = forms.CharField(label=_("What is it?"), required=False, max_length=2000,
                           widget=forms.Textarea(attrs={"rows": 3}),
                           help_text=_("Module, scope, budget, timing: what sales should know. "
                                       "Required for “other”."))

    def __init__(self, *args: Any, contacts: QuerySet, choose_from: QuerySet | None = None,
                 fixed_contact: bool = False, **kwargs: Any) -> None:
        """`contacts`: the ones the user may hand off (validation); `choose_from`: offered
        in a list (an account's contacts); `fixed_contact`: the contact is given."""
        super().__init__(*args, **kwargs)
        field = self.fields["contact"]
        field.queryset = contacts
        if fixed_contact:
            field.widget = forms.HiddenInput()
        elif choose_from is not None:
            field.label = _("Contact")
            field.widget = forms.Select(attrs={"class": "form-select"},
                                        choices=[("", "—")] + [(c.pk, c.name)
                                                               for c in choose_from])


class PolicyForm(StyledForm):
    """Every tier's limits in one form: `<tier>-accept` and `<tier>-remind`."""

    def __init__(self, *args: Any, policies: list[HandoffPolicy], **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        for policy in policies:
            label = Tier(policy.tier).label
            self.fields[f"{policy.tier}-accept"] = forms.IntegerField(
                label=_("%(tier)s: accept within (working hours)") % {"tier": label},
                min_value=1, max_value=1000, initial=policy.accept_within_hours)
            self.fields[f"{policy.tier}-remind"] = forms.IntegerField(
                label=_("%(tier)s: remind before (working hours)") % {"tier": label},
                min_value=0, max_value=1000, initial=policy.remind_before_hours)
        for field in self.fields.values():
            field.widget.attrs["class"] = "form-control"

    def rows(self) -> list[tuple[str, str, Any, Any]]:
        return [(tier, Tier(tier).label, self[f"{tier}-accept"], self[f"{tier}-remind"])
                for tier in Tier.values if f"{tier}-accept" in self.fields]

    def values(self) -> dict[str, tuple[int, int]]:
        return {tier: (self.cleaned_data[f"{tier}-accept"], self.cleaned_data[f"{tier}-remind"])
                for tier in Tier.values if f"{tier}-accept" in self.fields}
