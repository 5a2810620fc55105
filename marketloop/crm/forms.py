"""Forms of the crm pages. They only parse and shape input; every rule lives in the services,
whose DomainError is shown on the form by `show_domain_error`."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

from django import forms
from django.db.models import QuerySet
from django.utils.translation import get_language
from django.utils.translation import gettext_lazy as _

from marketloop.crm.models import ConsentMethod, OwnerKind, RevenueBand, Tier
from marketloop.org.errors import DomainError, NotAllowed

T = TypeVar("T")


def _english() -> bool:
    return (get_language() or "en").startswith("en")


class IndustryChoiceField(forms.ModelChoiceField):
    def label_from_instance(self, obj: Any) -> str:
        return obj.name_en if _english() and obj.name_en else obj.name


class UnitChoiceField(forms.ModelChoiceField):
    def label_from_instance(self, obj: Any) -> str:
        return obj.display_name


class AccountIdField(forms.ModelChoiceField):
    """An account chosen by its number; the queryset is the user's visible accounts, so a
    number the user may not see is 'not a valid choice' and nothing loads all rows."""

    widget = forms.NumberInput

    def __init__(self, queryset: QuerySet, **kwargs: Any) -> None:
        kwargs.setdefault("error_messages", {
            "invalid_choice": _("No account with this number is visible to you."),
        })
        super().__init__(queryset, **kwargs)


def style_widgets(form: forms.Form) -> None:
    """Give widgets the CSS kit's classes, so templates render fields with one include."""
    for field in form.fields.values():
        widget = field.widget
        if isinstance(widget, (forms.CheckboxInput, forms.RadioSelect,
                               forms.CheckboxSelectMultiple)):
            css = "form-check-input"
        elif isinstance(widget, forms.Select):
            css = "form-select"
        else:
            css = "form-control"
        widget.attrs["class"] = f"{widget.attrs.get('class', '')} {css}".strip()


class StyledForm(forms.Form):
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        style_widgets(self)


def show_domain_error(form: forms.Form, error: DomainError) -> None:
    """Put a service's error on the form: field errors beside their fields, the rest on top."""
    placed = False
    for field, messages in (error.errors or {}).items():
        for message in messages:
            form.add_error(field if field in form.fields else None, message)
            placed = True
    if not placed:
        form.add_error(None, error.message)


def submit(form: forms.Form, write: Callable[[], T]) -> T | None:
    """Run a service for a valid form. A DomainError lands on the form (None is returned); a
    refusal (NotAllowed) propagates, to become a 403 or 404."""
    try:
        return write()
    except NotAllowed:
        raise
    except DomainError as exc:
        show_domain_error(form, exc)
        return None


class AccountForm(StyledForm):
    name = forms.CharField(label=_("Name"), max_length=200)
    credit_code = forms.CharField(
        label=_("Unified social credit code"), max_length=40, required=False,
        help_text=_("18 characters, e.g. 91440300708461136T"))
    industry = IndustryChoiceField(label=_("Industry"), queryset=None)
    industry_rank = forms.IntegerField(label=_("Rank within industry"), min_value=1,
                                       required=False)
    province = UnitChoiceField(label=_("Province"), queryset=None)
    revenue_band = forms.ChoiceField(label=_("Revenue band"), required=False,
                                     choices=[("", "—"), *RevenueBand.choices])
    parent = AccountIdField(label=_("Parent account number"), queryset=None, required=False)

    def __init__(self, *args: Any, industries: QuerySet, provinces: QuerySet,
                 accounts: QuerySet, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["industry"].queryset = industries
        self.fields["province"].queryset = provinces
        self.fields["parent"].queryset = accounts


class AccountEditForm(AccountForm):
    reason = forms.CharField(label=_("Reason for the change"), max_length=500, required=False,
                             help_text=_("Kept in the audit trail."))


class ContactForm(StyledForm):
    name = forms.CharField(label=_("Name"), max_length=80)
    title = forms.CharField(label=_("Job title"), max_length=120, required=False)
    is_management = forms.BooleanField(label=_("Management level"), required=False)
    email = forms.CharField(label=_("Email"), max_length=254, required=False)
    mobile = forms.CharField(label=_("Mobile"), max_length=20, required=False,
                             help_text=_("E.164, e.g. +8613812345678"))


class NewContactForm(ContactForm):
    account = AccountIdField(label=_("Account number"), queryset=None)

    def __init__(self, *args: Any, accounts: QuerySet, fixed_account: bool = False,
                 **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["account"].queryset = accounts
        if fixed_account:
            self.fields["account"].widget = forms.HiddenInput()


class ConsentForm(StyledForm):
    purpose = forms.CharField(label=_("Purpose"), max_length=60,
                              help_text=_("e.g. EDM digest, event invitations"))
    granted = forms.TypedChoiceField(
        label=_("Decision"), coerce=lambda value: value == "1", initial="1",
        choices=[("1", _("Granted")), ("0", _("Withdrawn"))], widget=forms.RadioSelect)
    method = forms.ChoiceField(label=_("How it was given"), choices=ConsentMethod.choices)
    evidence = forms.CharField(label=_("Evidence"), required=False,
                               widget=forms.Textarea(attrs={"rows": 2}),
                               help_text=_("Where the proof is: form id, email, file number."))


class TierRuleForm(StyledForm):
    name = forms.CharField(label=_("Name"), max_length=120)
    priority = forms.IntegerField(label=_("Priority"), min_value=0, initial=100,
                                  help_text=_("Lower numbers are tried first."))
    rank_min = forms.IntegerField(label=_("Lowest rank"), min_value=1, required=False)
    rank_max = forms.IntegerField(label=_("Highest rank"), min_value=1, required=False)
    revenue_bands = forms.MultipleChoiceField(
        label=_("Revenue bands"), choices=RevenueBand.choices, required=False,
        widget=forms.CheckboxSelectMultiple, help_text=_("None ticked means any revenue band."))
    tier = forms.ChoiceField(label=_("Tier"), choices=Tier.choices)
    owner_kind = forms.ChoiceField(label=_("Owned by"), choices=OwnerKind.choices)
    active = forms.BooleanField(label=_("Active"), required=False, initial=True)

