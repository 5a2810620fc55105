"""Forms of the scoring pages. They only parse input; the rules (valid tiers, codes, points,
caps) are checked in scoring.services, whose errors `crm.forms.submit` puts on the form."""

from __future__ import annotations

from django import forms
from django.utils.translation import gettext_lazy as _

from marketloop.crm.forms import StyledForm
from marketloop.scoring.models import FitAttribute
from marketloop.tracking.models import TouchpointKind


class ModelForm(StyledForm):
    name = forms.CharField(label=_("Name"), max_length=120)
    half_life_days = forms.IntegerField(
        label=_("Engagement half-life (days)"), min_value=1,
        help_text=_("An action counts half as much after this many days."))
    lookback_days = forms.IntegerField(label=_("Look-back (days)"), min_value=1,
                                       help_text=_("Actions older than this count nothing."))
    lead_engagement = forms.IntegerField(label=_("Lead at engagement"), min_value=0)
    mql_fit = forms.IntegerField(label=_("MQL at fit"), min_value=0)
    mql_engagement = forms.IntegerField(label=_("MQL at engagement"), min_value=0)


class FitRuleForm(StyledForm):
    attribute = forms.ChoiceField(label=_("Attribute"), choices=FitAttribute.choices)
    value = forms.CharField(
        label=_("Value"), max_length=120,
        help_text=_("A tier, revenue band, industry or province code (see the list); words "
                    "a job title contains; “yes” or “no” for the management level."),
        widget=forms.TextInput(attrs={"list": "fit-values"}))
    points = forms.IntegerField(label=_("Points"), help_text=_("Negative points lower fit."))


class EngagementRuleForm(StyledForm):
    label = forms.CharField(label=_("Label"), max_length=120,
                            help_text=_("Shown in every score's explanation."))
    kind = forms.ChoiceField(label=_("Kind of touchpoint"), required=False,
                             choices=[("", _("Any kind")), *TouchpointKind.choices])
    event = forms.CharField(label=_("Event name"), max_length=200, required=False,
                            help_text=_("Exactly, e.g. Trial Requested. Empty: any."))
    url_contains = forms.CharField(label=_("URL contains"), max_length=200, required=False,
                                   help_text=_("e.g. /pricing. Empty: any page."))
    property_key = forms.CharField(label=_("Property"), max_length=60, required=False,
                                   help_text=_("e.g. file_name"))
    property_value = forms.CharField(
        label=_("Property value"), max_length=200, required=False,
        help_text=_("Exactly. Empty: the property only has to be there."))
    points = forms.IntegerField(label=_("Points"),
                                help_text=_("Per matching touchpoint; negative points lower "
                                            "engagement (a careers page, say)."))
    daily_cap = forms.IntegerField(label=_("Cap per day"), required=False,
                                   help_text=_("At most this many points a day from this "
                                               "rule (for negative points: at most this many "
                                               "taken away). Empty: no cap."))
