"""Numbers in Chinese pages read as Chinese business software shows them: 1,234,567.89."""

from __future__ import annotations

from decimal import Decimal

from django.template import Context, Template
from django.utils import translation


def test_money_is_grouped_in_threes_with_commas_in_chinese():
    template = Template('{{ amount|floatformat:"2g" }}')
    with translation.override("zh-hans"):
        assert template.render(Context({"amount": Decimal("1234567.891")})) == "1,234,567.89"
    with translation.override("en"):
        assert template.render(Context({"amount": Decimal("1234567.891")})) == "1,234,567.89"
