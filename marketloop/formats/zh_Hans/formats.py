"""Number formats for Simplified Chinese: Django's own group digits in fours with no separator
(万-style); business software in China shows money as 1,234,567.89, as our users expect."""

from django.conf.locale.zh_Hans.formats import *  # noqa: F403

THOUSAND_SEPARATOR = ","
NUMBER_GROUPING = 3
