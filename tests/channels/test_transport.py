"""What every channel's requests share: the Retry-After reader (a provider's header, not a channel's table)."""

from __future__ import annotations

import pytest

from channels.transport import parse_retry_after


@pytest.mark.parametrize(
    ("header", "seconds"),
    [
        ("7", 7),
        (" 2.5 ", 2.5),
        ("-3", 0),
        (None, None),
        ("", None),
        ("soon", None),
        ("Wed, 02 Dec 2026 01:00:30 GMT", 30),
    ],
)
def test_retry_after_in_seconds_or_as_a_date(header, seconds):
    now = 1796173200.0  # Wed, 02 Dec 2026 01:00:00 GMT
    assert parse_retry_after(header, now=now) == seconds
