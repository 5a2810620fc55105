"""Forms of the sales pages. They parse and shape input; the rules live in sales.services."""

from __future__ import annotations

from typing import Any

from django import forms
from django.db.models import QuerySet
from django.utils.translation import get_language
from django.utils.translation import gettext_lazy as _

from marketloop.crm.forms import AccountIdField, StyledForm, style_widgets
from marketloop.sales.models import (
    OPEN_OPPORTUNITY_STAGES,
    Currency,
    DealRole,
    OpportunityStage,
    SalesSettings,
)


class ProductChoiceField(forms.ModelMultipleChoiceField):
    def label_from_instance(self, obj: Any) -> str:
        english = (get_language() or "en").startswith("en")
        return obj.name_en if english and obj.name_en else obj.name


class OpportunityForm(StyledForm):
    name = forms.CharField(label=_("Name"), max_length=200)
    amount = forms.DecimalField(label=_("Amount"), min_value=0, max_digits=16, decimal_places=2)
    currency = forms.ChoiceField(label=_("Currency"), choices=Currency.choices,
                                 initial=Currency.CNY)
    expected_close = forms.DateField(label=_("Expected close"),
                                     widget=forms.DateInput(attrs={"type": "date"}))
    products = ProductChoiceField(label=_("Products"), queryset=None, required=False,
                                  widget=forms.CheckboxSelectMultiple)
    competitors = forms.ModelMultipleChoiceField(label=_("Competitors"), queryset=None,
                                                 required=False,
                                                 widget=forms.CheckboxSelectMultiple)

    def __init__(self, *args: Any, products: QuerySet, competitors: QuerySet,
                 **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["products"].queryset = products
        self.fields["competitors"].queryset = competitors

    def service_arguments(self) -> dict[str, Any]:
        data = dict(self.cleaned_data)
        data["products"] = [product.pk for product in data.get("products") or []]
        data["competitors"] = [competitor.pk for competitor in data.get("competitors") or []]
        return data


class NewOpportunityForm(OpportunityForm):
    """The account is chosen by its number, unless the opportunity comes from a lead (the
    lead's account) or the page was opened from an account."""

    account = AccountIdField(label=_("Account number"), queryset=None, required=False)
    stage = forms.ChoiceField(label=_("Stage"), initial=OpportunityStage.QUALIFICATION,
                              choices=[(s.value, s.label) for s in OPEN_OPPORTUNITY_STAGES])

    field_order = ["account", "name", "amount", "currency", "stage", "expected_close"]

    def __init__(self, *args: Any, accounts: QuerySet, fixed_account: bool, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["account"].queryset = accounts
        if fixed_account:
            self.fields["account"].widget = forms.HiddenInput()
        else:
            self.fields["account"].required = True

    def service_arguments(self) -> dict[str, Any]:
        data = super().service_arguments()
        account = data.pop("account", None)
        data["account_id"] = account.pk if account is not None else None
        return data


class EditOpportunityForm(OpportunityForm):
    reason = forms.CharField(label=_("Reason for the change"), max_length=500, required=False,
                             help_text=_("Kept in the audit trail."))


class StageForm(StyledForm):
    stage = forms.ChoiceField(label=_("Move to"), choices=OpportunityStage.choices)
    reason = forms.CharField(label=_("Why"), max_length=2000, required=False,
                             widget=forms.Textarea(attrs={"rows": 2}),
                             help_text=_("Required when the opportunity is lost or reopened."))


class TeamMemberForm(StyledForm):
    username = forms.CharField(label=_("Username"), max_length=150,
                               widget=forms.TextInput(attrs={"list": "team-candidates",
                                                             "autocomplete": "off"}))
    role = forms.ChoiceField(label=_("Role"), choices=DealRole.choices)


class TeamRemoveForm(forms.Form):
    member = forms.IntegerField()


class SettingsForm(StyledForm):
    big_deal_band_cny = forms.DecimalField(
        label=_("Big deal from (CNY)"), min_value=0, max_digits=16, decimal_places=2,
        help_text=_("Open opportunities at or above this amount in CNY are big deals."))

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        for stage in OPEN_OPPORTUNITY_STAGES:
            self.fields[f"probability_{stage.value}"] = forms.IntegerField(
                label=_("%(stage)s: probability (%%)") % {"stage": stage.label},
                min_value=0, max_value=100)
        for currency in Currency.values:
            if currency != Currency.CNY:
                self.fields[f"rate_{currency}"] = forms.DecimalField(
                    label=_("CNY per %(currency)s") % {"currency": currency},
                    min_value=0, max_digits=12, decimal_places=6)
        style_widgets(self)  # again, for the fields added here

    @staticmethod
    def initial_from(settings: SalesSettings) -> dict[str, Any]:
        initial: dict[str, Any] = {"big_deal_band_cny": settings.big_deal_band_cny}
        for stage in OPEN_OPPORTUNITY_STAGES:
            initial[f"probability_{stage.value}"] = settings.probability_of(stage)
        for currency in Currency.values:
            if currency != Currency.CNY:
                initial[f"rate_{currency}"] = settings.rate_of(currency)
        return initial

    def stage_fields(self) -> list[forms.BoundField]:
        return [self[f"probability_{stage.value}"] for stage in OPEN_OPPORTUNITY_STAGES]

    def rate_fields(self) -> list[forms.BoundField]:
        return [self[name] for name in self.fields if name.startswith("rate_")]

    def service_arguments(self) -> dict[str, Any]:
        data = self.cleaned_data
        return {
            "big_deal_band_cny": data["big_deal_band_cny"],
            "probabilities": {stage.value: data[f"probability_{stage.value}"]
                              for stage in OPEN_OPPORTUNITY_STAGES},
            "cny_rates": {name.removeprefix("rate_"): data[name] for name in data
                          if name.startswith("rate_")},
        }
