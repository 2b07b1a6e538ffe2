"""The Magic Hour client: one pooled httpx client, the company's token added here and only here.

What matters for money is *whether a request reached upstream*, so failures are sorted in two:

* :class:`UpstreamUnreachable`: nothing was sent (no connection could be made); safe to release.
* :class:`UpstreamUnknown`: the request went out but no answer came back (timeout, connection
  dropped); upstream may have created and charged a job. Creates are never retried.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

import httpx

# Upstream headers worth passing back to the caller; everything else is ours to set.
_PASSED_HEADERS = ("content-type", "retry-after")


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
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        headers = {"accept": "application/json", "user-agent": "ledger (Magic Hour budget guard)"}
        if token:
            headers["authorization"] = f"Bearer {token}"
        self._client = httpx.Client(
            base_url=base_url.rstrip("/"),
            headers=headers,
            timeout=httpx.Timeout(timeout, connect=connect_timeout, pool=connect_timeout),
            limits=httpx.Limits(
                max_connections=max_connections, max_keepalive_connections=max_connections
            ),
            follow_redirects=False,
            transport=transport,
        )

    def request(self, method: str, path: str, body: bytes | None = None) -> UpstreamReply:
        """Send one request; UpstreamUnreachable or UpstreamUnknown if no answer comes."""
        headers = {"content-type": "application/json"} if body is not None else None
        try:
            response = self._client.request(method, path, content=body, headers=headers)
        except (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout) as exc:
            raise UpstreamUnreachable(type(exc).__name__) from None
        except httpx.TransportError as exc:
            # Read/write timeouts, dropped connections, protocol errors: it may have arrived.
            raise UpstreamUnknown(type(exc).__name__) from None
        passed = {
            name: response.headers[name] for name in _PASSED_HEADERS if name in response.headers
        }
        return UpstreamReply(response.status_code, response.content, passed)

    def close(self) -> None:
        self._client.close()
