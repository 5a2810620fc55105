from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st
from stdnum.cn import uscc

from marketloop.crm.validation import (
    name_bigrams,
    normalise_credit_code,
    normalise_email,
    normalise_mobile,
)


def test_valid_credit_code_is_normalised():
    assert normalise_credit_code(" 91110000600037341l ") == "91110000600037341L"


def test_wrong_check_digit_is_refused_with_reason():
    with pytest.raises(ValueError, match="check digit"):
        normalise_credit_code("91110000600037341X")


def test_wrong_length_is_refused_with_reason():
    with pytest.raises(ValueError, match="18 characters"):
        normalise_credit_code("9111000060003734")


@given(st.text(alphabet="0123456789ABCDEFGHJKLMNPQRTUWXY", min_size=17, max_size=17))
def test_any_code_with_its_computed_check_digit_is_valid(body):
    body = "91" + body[2:8].translate(str.maketrans("ABCDEFGHJKLMNPQRTUWXY", "0" * 21)) + body[8:]
    code = body + uscc.calc_check_digit(body)
    assert normalise_credit_code(code) == code


@pytest.mark.parametrize("raw", ["13812345678", "+86 138 1234 5678", "0086-13812345678"])
def test_chinese_mobiles_become_e164(raw):
    assert normalise_mobile(raw) == "+8613812345678"


def test_foreign_e164_numbers_are_kept():
    assert normalise_mobile("+44 7911 123456") == "+447911123456"


@pytest.mark.parametrize("raw", ["12345", "1381234567", "010-62345678", "not a phone"])
def test_non_mobiles_are_refused(raw):
    with pytest.raises(ValueError):
        normalise_mobile(raw)


def test_email_is_lower_cased_and_checked():
    assert normalise_email(" Li.Lei@Example.CN ") == "li.lei@example.cn"
    with pytest.raises(ValueError):
        normalise_email("li.lei@")


def test_bigrams_cover_two_character_fragments():
    assert "华为" in name_bigrams("深圳华为技术")
    assert name_bigrams("a") == []
