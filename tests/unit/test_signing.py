"""Magic Hour's webhook signature, at its edges."""

from __future__ import annotations

import pytest

from ledger.errors import Unauthorized
from ledger.webhooks.signing import signature, verify

BODY = b'{"type": "video.completed", "payload": {"id": "p"}}'
NOW = 1_800_000_000


@pytest.mark.parametrize(
    ("offset", "accepted"), [(-300, True), (300, True), (-301, False), (301, False)]
)
def test_a_timestamp_is_refused_exactly_past_300_seconds(offset: int, accepted: bool) -> None:
    timestamp = str(NOW + offset)
    given = signature("secret", timestamp, BODY)
    if accepted:
        verify("secret", timestamp, given, BODY, now=NOW)
    else:
        with pytest.raises(Unauthorized, match="300 s"):
            verify("secret", timestamp, given, BODY, now=NOW)


def test_the_signature_is_over_the_raw_bytes_and_case_insensitive_hex() -> None:
    timestamp = str(NOW)
    given = signature("secret", timestamp, BODY)
    verify("secret", timestamp, given.upper(), BODY, now=NOW)
    with pytest.raises(Unauthorized):
        verify("secret", timestamp, given, BODY + b" ", now=NOW)
