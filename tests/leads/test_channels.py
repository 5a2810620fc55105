"""The channel of a lead's first touch: the campaign medium where the link carried one, else
the kind of touch, else a search engine's referrer."""

from __future__ import annotations

import pytest

from marketloop.leads.channels import channel_of


@pytest.mark.parametrize(("touch", "channel"), [
    ({"kind": "page", "utm_medium": "cpc"}, "search"),
    ({"kind": "page", "utm_medium": "EDM"}, "edm"),
    ({"kind": "page", "utm_medium": "email", "referrer": "https://www.baidu.com/s?wd=x"}, "edm"),
    ({"kind": "email_click"}, "edm"),
    ({"kind": "call"}, "hotline"),
    ({"kind": "event"}, "event"),
    ({"kind": "form"}, "form"),
    ({"kind": "visit"}, "sales"),
    ({"kind": "page", "referrer": "https://www.baidu.com/s?wd=%E8%BD%AF%E4%BB%B6"}, "search"),
    ({"kind": "page", "referrer": "https://partner.example.cn/news"}, "web"),
    ({"kind": "identify"}, "other"),
    (None, "other"),
])
def test_channel_of_a_touch(touch, channel):
    assert channel_of(touch) == channel
