"""The Magic Hour client over real loopback HTTP: what it sends (the company's token, the body
framed by its length, a base URL's own path kept), how it sorts failures, and its connections
(kept alive and shared between calls, one per call in flight, replaced when upstream closed
one)."""

from __future__ import annotations

import http.server
import json
import socket
import threading
from collections.abc import Iterator

import pytest

from ledger.upstream import Upstream, UpstreamUnknown, UpstreamUnreachable

SEEN: list[dict] = []


class Recorder(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def _answer(self) -> None:
        length = int(self.headers.get("content-length") or 0)
        body = self.rfile.read(length) if length else b""
        SEEN.append(
            {
                "method": self.command,
                "path": self.path,
                "headers": {k.lower(): v for k, v in self.headers.items()},
                "body": body,
                "connection": self.client_address[1],  # the client's port: one per connection
            }
        )
        if self.path.endswith("/hang"):
            threading.Event().wait(2)
        answer = json.dumps({"ok": True}).encode()
        self.send_response(429 if self.path.endswith("/slow-down") else 200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Retry-After", "7")
        self.send_header("Set-Cookie", "not=passed")
        self.send_header("Content-Length", str(len(answer)))
        try:
            self.end_headers()
            self.wfile.write(answer)
        except BrokenPipeError:  # the client that gave up waiting on /hang
            pass
        # A load balancer ending a kept-alive connection: closed, without saying so first.
        self.close_connection = self.path.endswith("/then-drop")

    do_GET = do_POST = _answer

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def server() -> Iterator[str]:
    SEEN.clear()
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Recorder)
    httpd.daemon_threads = True
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}"
    httpd.shutdown()
    httpd.server_close()


def test_a_call_carries_the_token_and_its_body_and_keeps_the_base_path(server: str) -> None:
    upstream = Upstream(server + "/api/", "company-token", timeout=5)
    try:
        reply = upstream.request("POST", "/v1/image-to-video", b'{"end_seconds": 5}')
        again = upstream.request("GET", "/v1/video-projects/p%2F1")
    finally:
        upstream.close()
    assert (reply.status, reply.json(), again.status) == (200, {"ok": True}, 200)
    # Only what the caller may see is passed back, by lower-case name.
    assert reply.headers == {"content-type": "application/json", "retry-after": "7"}
    first, second = SEEN
    assert (first["method"], first["path"], first["body"]) == (
        "POST",
        "/api/v1/image-to-video",
        b'{"end_seconds": 5}',
    )
    assert first["headers"]["authorization"] == "Bearer company-token"
    assert first["headers"]["content-type"] == "application/json"
    assert first["headers"]["host"] == server.removeprefix("http://")
    assert (second["method"], second["path"], second["body"]) == (
        "GET",
        "/api/v1/video-projects/p%2F1",
        b"",
    )
    assert "content-type" not in second["headers"]


def test_an_error_status_is_an_answer(server: str) -> None:
    upstream = Upstream(server, None, timeout=5)
    try:
        reply = upstream.request("GET", "/v1/slow-down")
    finally:
        upstream.close()
    assert (reply.status, reply.ok, reply.headers["retry-after"]) == (429, False, "7")
    assert "authorization" not in SEEN[0]["headers"]


def test_nothing_listening_is_unreachable_and_no_answer_in_time_is_unknown(server: str) -> None:
    with socket.socket() as probe:  # a port nobody listens on
        probe.bind(("127.0.0.1", 0))
        closed = f"http://127.0.0.1:{probe.getsockname()[1]}"
    nowhere = Upstream(closed, "t", timeout=1, connect_timeout=1)
    with pytest.raises(UpstreamUnreachable):
        nowhere.request("POST", "/v1/image-to-video", b"{}")
    slow = Upstream(server, "t", timeout=0.3)
    try:
        with pytest.raises(UpstreamUnknown):
            slow.request("POST", "/v1/hang", b"{}")
    finally:
        slow.close()
        nowhere.close()


def connections(server_seen: list[dict]) -> list[int]:
    return [seen["connection"] for seen in server_seen]


def test_calls_share_kept_alive_connections_one_per_call_in_flight(server: str) -> None:
    upstream = Upstream(server, "t", timeout=5)
    try:
        for _ in range(3):
            upstream.request("GET", "/v1/video-projects/p")
        one_at_a_time = set(connections(SEEN))
        SEEN.clear()
        # Four calls in flight together (each waits on /hang) need four connections.
        hanging = [
            threading.Thread(target=upstream.request, args=("POST", "/v1/hang", b"{}"))
            for _ in range(4)
        ]
        for thread in hanging:
            thread.start()
        for thread in hanging:
            thread.join(timeout=10)
        together = set(connections(SEEN))
        SEEN.clear()
        # Threads that come and go (a sweep's pool) use the connections the others left.
        for _ in range(6):
            later = threading.Thread(target=upstream.request, args=("GET", "/v1/video-projects/p"))
            later.start()
            later.join(timeout=10)
        afterwards = set(connections(SEEN))
    finally:
        upstream.close()
    assert len(one_at_a_time) == 1  # three calls one after another: one connection
    assert len(together) == 4 and one_at_a_time < together  # the idle one, and three new
    assert len(afterwards) == 1 and afterwards < together  # no new connection


def test_a_connection_upstream_closed_is_replaced_without_failing_a_call(server: str) -> None:
    upstream = Upstream(server, "t", timeout=5)
    try:
        first = upstream.request("GET", "/v1/video-projects/p/then-drop")
        threading.Event().wait(0.2)  # the close reaches this side
        second = upstream.request("POST", "/v1/image-to-video", b"{}")
        third = upstream.request("GET", "/v1/video-projects/p")
    finally:
        upstream.close()
    assert (first.status, second.status, third.status) == (200, 200, 200)
    dropped, renewed, kept = connections(SEEN)
    assert dropped != renewed == kept


def test_close_ends_every_connection(server: str) -> None:
    upstream = Upstream(server, "t", timeout=5)
    upstream.request("GET", "/v1/video-projects/p")
    upstream.close()
    upstream.request("GET", "/v1/video-projects/p")  # a call after close opens a new one
    upstream.close()
    before, after = connections(SEEN)
    assert before != after
