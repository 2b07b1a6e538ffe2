"""The Magic Hour client: one connection pool per process, the company's token added here and
only here.

What matters for money is *whether a request reached upstream*, so failures are sorted in two:

* :class:`UpstreamUnreachable`: nothing was sent (no connection could be made); safe to release.
* :class:`UpstreamUnknown`: the request went out but no answer came back (timeout, connection
  dropped); upstream may have created and charged a job. Creates are never retried.

Calls go out on keep-alive connections (``httpcore.HTTPConnection``, the connection under
``httpx``'s pool, used directly) kept in a stack of idle ones: a call takes the one used last and
puts it back when its answer is read, two steps that cost the same however many connections
there are. ``httpcore``'s own pool scans every connection it holds on every call (and compares
each with all the others), and with 256 threads to a worker that scan, and the lock around it,
cost more CPU than the HTTP exchange itself. Ledger needs nothing of ``httpx.Client`` on top (no
redirects, cookies, auth flows, content decoding or URL merging: one base URL, fixed headers, a
body of bytes). With 256 calls waiting at once, ledger's share of the two cores is what limits a
team (bench/RESULTS.md, issue 17).
"""

from __future__ import annotations

import json
import ssl
import threading
from collections import deque
from dataclasses import dataclass
from typing import Any

import certifi
import httpcore

# Upstream headers worth passing back to the caller; everything else is ours to set.
_PASSED_HEADERS = (b"content-type", b"retry-after")
_JSON = (b"content-type", b"application/json")
KEEPALIVE_SECONDS = 5.0  # as httpx's: a connection idle this long is not used again


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
        self._origin = base.origin  # with the scheme's own port if the URL names none
        self._tls = None  # one context for every connection: loading the CAs costs milliseconds
        if base.scheme == b"https":
            self._tls = ssl.create_default_context(cafile=certifi.where())
        self._idle = _Idle()

    def request(self, method: str, path: str, body: bytes | None = None) -> UpstreamReply:
        """Send one request; UpstreamUnreachable or UpstreamUnknown if no answer comes."""
        headers = self._headers
        if body is not None:
            headers = [*headers, _JSON, (b"content-length", b"%d" % len(body))]
        request = httpcore.Request(
            method.encode(),
            self._root + path.encode(),
            headers=headers,
            content=body,
            extensions=self._timeouts,
        )
        try:
            response = self._send(request)
        except (httpcore.ConnectError, httpcore.ConnectTimeout) as exc:
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

    def _send(self, request: httpcore.Request) -> httpcore.Response:
        """The request on an idle connection (a new one if none is), its answer read to the end;
        the connection is then put back, unless it was closed meanwhile."""
        connection = self._idle.take() or self._new_connection()
        try:
            response = connection.handle_request(request)
        except httpcore.ConnectionNotAvailable:  # closed as the call began: nothing was sent
            connection = self._new_connection()
            response = connection.handle_request(request)
        try:
            response.read()
        finally:
            response.close()  # a connection that did not end its exchange cleanly is closed
        self._idle.put(connection)
        return response

    def _new_connection(self) -> httpcore.HTTPConnection:
        return httpcore.HTTPConnection(
            self._origin,
            ssl_context=self._tls,
            keepalive_expiry=KEEPALIVE_SECONDS,
        )

    def close(self) -> None:
        """Close the idle connections, and each busy one as its call ends (at shutdown)."""
        self._idle.close()


class _Idle:
    """Connections between calls, the one used last on top.

    Taking the top keeps the fewest connections busy; each one put back also retires the one
    idle longest if it is no longer fit to use, so that connections a past burst opened are
    closed as the load falls, without a scan.
    """

    def __init__(self) -> None:
        self._stack: deque[httpcore.HTTPConnection] = deque()
        self._lock = threading.Lock()
        self._closed = False

    def take(self) -> httpcore.HTTPConnection | None:
        """An idle connection still fit to use (upstream has not closed it, nor has it been idle
        too long), or None."""
        while True:
            with self._lock:
                if not self._stack:
                    return None
                connection = self._stack.pop()
            if _fit(connection):
                return connection
            connection.close()

    def put(self, connection: httpcore.HTTPConnection) -> None:
        if not connection.is_idle():  # closed: the answer said so, or the exchange failed
            connection.close()
            return
        retired = None
        with self._lock:
            if self._closed:
                retired = connection
            else:
                self._stack.append(connection)
                if len(self._stack) > 1 and not _fit(self._stack[0]):
                    retired = self._stack.popleft()
        if retired is not None:
            retired.close()

    def close(self) -> None:
        with self._lock:
            self._closed = True
            stack, self._stack = self._stack, deque()
        for connection in stack:
            connection.close()


def _fit(connection: httpcore.HTTPConnection) -> bool:
    return not (connection.is_closed() or connection.has_expired())
