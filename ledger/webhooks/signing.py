"""Magic Hour's webhook signature: lowercase hex HMAC-SHA256, keyed with the secret, of
``"{timestamp}.{raw body}"``, in ``magic-hour-event-signature``; the Unix time in
``magic-hour-event-timestamp``. A receiver compares in constant time and refuses a timestamp more
than :data:`TOLERANCE_SECONDS` from its clock."""

from __future__ import annotations

import hashlib
import hmac
import time

from ledger.errors import Unauthorized

TIMESTAMP_HEADER = "magic-hour-event-timestamp"
SIGNATURE_HEADER = "magic-hour-event-signature"
TOLERANCE_SECONDS = 300
_MAX_TIMESTAMP_DIGITS = 12


def signature(secret: str, timestamp: str, body: bytes) -> str:
    mac = hmac.new(secret.encode(), timestamp.encode() + b"." + body, hashlib.sha256)
    return mac.hexdigest()


def signed_headers(secret: str, body: bytes, *, now: float | None = None) -> dict[str, str]:
    """The two headers Magic Hour sends with ``body``, signed now with ``secret``."""
    timestamp = str(int(time.time() if now is None else now))
    return {TIMESTAMP_HEADER: timestamp, SIGNATURE_HEADER: signature(secret, timestamp, body)}


def verify(
    secret: str,
    timestamp: str | None,
    given: str | None,
    body: bytes,
    *,
    now: float | None = None,
) -> None:
    """Raise :class:`Unauthorized` unless ``given`` signs ``body`` at a fresh ``timestamp``."""
    if not timestamp or not given:
        raise Unauthorized(f"missing {TIMESTAMP_HEADER} or {SIGNATURE_HEADER}")
    if not timestamp.isdigit() or len(timestamp) > _MAX_TIMESTAMP_DIGITS:
        raise Unauthorized(f"{TIMESTAMP_HEADER} must be Unix seconds")
    if abs((time.time() if now is None else now) - int(timestamp)) > TOLERANCE_SECONDS:
        raise Unauthorized(f"{TIMESTAMP_HEADER} is more than {TOLERANCE_SECONDS} s from now")
    expected = signature(secret, timestamp, body)
    if not hmac.compare_digest(expected.encode(), given.strip().lower().encode("ascii", "replace")):
        raise Unauthorized(f"{SIGNATURE_HEADER} does not match the body")
