"""The Magic Hour client: one connection pool per process, the company's token added here and
only here.

What matters for money is *whether a request reached upstream*, so failures are sorted in two:

* :class:`UpstreamUnreachable`: nothing was sent (no connection could be made); safe to release.
* :class:`UpstreamUnknown`: the request went out but no answer came back (timeout, connection
  dropped); upstream may have created and charged a job. Creates are never retried.

Every call goes through ``httpcore``'s connection pool: the transport under ``httpx``, used
directly. Ledger's calls need nothing of ``httpx.Client`` on top of it (no redirects, cookies,
auth flows, content decoding or URL merging: one base URL, fixed headers, a body of bytes), and
that layer cost about as much CPU as the pool itself: with 256 calls waiting at once, ledger's
share of the two cores is what limits a team (bench/RESULTS.md, issue 17).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

import httpcore

# Upstream headers worth passing back to the caller; everything else is ours to set.
_PASSED_HEADERS = (b"content-type", b"retry-after")
_JSON = (b"content-type", b"application/json")


class UpstreamUnreachable(Exception):
    """No connection to upstream could be made: the request was not sent."""


class UpstreamUnknown(Exception):
    """The request was sent but its outcome is unknown (no complete answer)."""


@dataclass(frozen=True)
class UpstreamReply:
    status: int
    body: bytes
    headers: dict[str, str]

    @property
    def ok(self) -> bool:
        return 200 <= self.status < 300

    def json(self) -> Any:
        """The parsed body, or None if it is not JSON."""
        try:
            return json.loads(self.body)
        except ValueError:
            return None


class Upstream:
    """Calls to the Magic Hour API with the company's token. Thread-safe; share one per process."""

    def __init__(
        self,
        base_url: str,
        token: str | None,
        *,
        timeout: float = 60.0,
        connect_timeout: float = 5.0,
        max_connections: int = 100,
    ) -> None:
        base = httpcore.URL(base_url.rstrip("/"))
        host = base.host + (b":%d" % base.port if base.port else b"")
        # Scheme, host and the base URL's own path, if it has one: every path is put after it.
        self._root = base.scheme + b"://" + host + base.target.rstrip(b"/")
        self._headers = [
            (b"host", host),
            (b"accept", b"application/json"),
            (b"user-agent", b"ledger (Magic Hour budget guard)"),
        ]
        if token:
            self._headers.append((b"authorization", b"Bearer " + token.encode()))
        self._timeouts = {
            "timeout": {
                "connect": connect_timeout,
                "pool": connect_timeout,
                "read": timeout,
                "write": timeout,
            }
        }
        self._pool = httpcore.ConnectionPool(
            max_connections=max_connections,
            max_keepalive_connections=max_connections,
            keepalive_expiry=5.0,  # as httpx's: an idle connection is closed after 5 s
        )

    def request(self, method: str, path: str, body: bytes | None = None) -> UpstreamReply:
        """Send one request; UpstreamUnreachable or UpstreamUnknown if no answer comes."""
        headers = self._headers
        if body is not None:
            headers = [*headers, _JSON, (b"content-length", b"%d" % len(body))]
        try:
            response = self._pool.request(
                method.encode(),
                self._root + path.encode(),
                headers=headers,
                content=body,
                extensions=self._timeouts,
            )
        except (httpcore.ConnectError, httpcore.ConnectTimeout, httpcore.PoolTimeout) as exc:
            raise UpstreamUnreachable(type(exc).__name__) from None
        except (httpcore.TimeoutException, httpcore.NetworkError, httpcore.ProtocolError) as exc:
            # Read/write timeouts, dropped connections, protocol errors: it may have arrived.
            raise UpstreamUnknown(type(exc).__name__) from None
        passed = {
            name.decode().lower(): value.decode("latin-1")
            for name, value in response.headers
            if name.lower() in _PASSED_HEADERS
        }
        return UpstreamReply(response.status, response.content, passed)

    def close(self) -> None:
        self._pool.close()
