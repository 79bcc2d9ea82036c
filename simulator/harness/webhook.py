"""WebhookReceiver: a small threaded HTTP server on 127.0.0.1 that records every request a gateway makes.

Gateways report delivery receipts and MOs by calling a URL (Kannel's dlr-url and get-url, a REST
gateway's webhook). A test points them here and waits for the calls, the way it waits for PDUs with
`SimulatedSmsc.wait_for`: each `wait_for` returns the first matching request no earlier `wait_for`
returned, on a condition (no sleeps), and times out with a report of the nearest requests.

    with WebhookReceiver() as hook:
        url = hook.url("/dlr")                       # give this to the gateway
        call = hook.wait_for("/dlr", type="1")       # query, form or JSON-object fields
        assert call.params["status"].startswith("id:")
"""

from __future__ import annotations

import functools
import http.server
import json
import threading
import time
import urllib.parse
from dataclasses import dataclass, field
from typing import Any, Callable, Mapping

from ..matching import describe, mismatches, value_matches
from .waiting import claim_first, unclaimed_within

DEFAULT_TIMEOUT = 10.0


@dataclass(frozen=True)
class WebhookRequest:
    """One recorded HTTP request: query, form and JSON bodies decoded; `params` is query plus form fields."""

    index: int
    at: float
    method: str
    path: str
    query: dict[str, str]
    params: dict[str, str]
    body: bytes
    json: Any
    headers: dict[str, str] = field(default_factory=dict)

    def lookup(self, key: str) -> Any:
        """A parameter (query or form), else a top-level key of a JSON object body; KeyError when absent."""
        if key in self.params:
            return self.params[key]
        if isinstance(self.json, Mapping) and key in self.json:
            return self.json[key]
        raise KeyError(key)

    def describe(self) -> str:
        """One line for reports: index, method, path and the fields."""
        shown: Mapping[str, Any] = self.params or (self.json if isinstance(self.json, Mapping) else {})
        fields = " ".join(f"{k}={_short(v)}" for k, v in shown.items())
        if not shown and self.body:
            fields = f"body={_short(self.body)}"
        return f"#{self.index} {self.method} {self.path} {fields}".rstrip()


def _short(value: Any, limit: int = 80) -> str:
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _first_values(pairs: list[tuple[str, str]]) -> dict[str, str]:
    values: dict[str, str] = {}
    for key, value in pairs:
        values.setdefault(key, value)
    return values


def _parse_json(body: bytes, content_type: str) -> Any:
    # Some gateways post JSON as text/plain, so any body that looks like JSON is tried.
    if not body or ("json" not in content_type and body.lstrip()[:1] not in (b"{", b"[")):
        return None
    try:
        return json.loads(body)
    except (ValueError, UnicodeDecodeError):
        return None


class _Handler(http.server.BaseHTTPRequestHandler):
    receiver: WebhookReceiver  # set on the per-receiver subclass

    def _record(self) -> None:
        split = urllib.parse.urlsplit(self.path)
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length > 0 else b""
        content_type = self.headers.get("Content-Type", "")
        query = _first_values(urllib.parse.parse_qsl(split.query, keep_blank_values=True))
        params = dict(query)  # form fields override query ones: the body is the payload
        if "application/x-www-form-urlencoded" in content_type and body:
            form = urllib.parse.parse_qsl(body.decode("utf-8", "replace"), keep_blank_values=True)
            params.update(_first_values(form))
        status, reply = self.receiver._add(
            method=self.command,
            path=split.path,
            query=query,
            params=params,
            body=body,
            json=_parse_json(body, content_type),
            headers=dict(self.headers.items()),
        )
        data = reply.encode("utf-8")
        self.send_response(status)
        self.send_header("Content-Type", "text/plain; charset=utf-8")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(data)

    do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = do_HEAD = _record  # noqa: N815 - http.server naming

    def log_message(self, *args: object) -> None:
        """Quiet: the receiver's report is the log."""


class WebhookReceiver:
    """Records every HTTP request on 127.0.0.1; see the module docstring. Use as a context manager or start()/stop()."""

    def __init__(self, host: str = "127.0.0.1", port: int = 0, status: int = 200, body: str = "OK") -> None:
        self.host = host
        self.port = port
        self._status = status
        self._body = body
        self._requests: list[WebhookRequest] = []
        self._claimed: set[int] = set()
        self._changed = threading.Condition()
        self._httpd: http.server.ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    # --- life ----------------------------------------------------------------------------------

    def start(self) -> WebhookReceiver:
        """Listen (an ephemeral port when port=0) and serve in a daemon thread; returns self."""
        if self._httpd is not None:
            return self
        handler = type("WebhookHandler", (_Handler,), {"receiver": self})
        self._httpd = http.server.ThreadingHTTPServer((self.host, self.port), handler)
        self._httpd.daemon_threads = True
        self.port = self._httpd.server_address[1]
        # A short poll interval: shutdown() waits for it, and every test stops a receiver.
        serve = functools.partial(self._httpd.serve_forever, poll_interval=0.05)
        self._thread = threading.Thread(target=serve, name=f"webhook:{self.port}", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop serving and close the socket (the recorded requests stay readable)."""
        if self._httpd is None:
            return
        self._httpd.shutdown()
        self._httpd.server_close()
        if self._thread is not None:
            self._thread.join(5)
        self._httpd = None
        self._thread = None

    def __enter__(self) -> WebhookReceiver:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def url(self, path: str = "/") -> str:
        """The URL of a path on this receiver, e.g. url('/dlr') -> 'http://127.0.0.1:PORT/dlr'."""
        if self._httpd is None:
            raise RuntimeError("the webhook receiver is not started")
        return f"http://{self.host}:{self.port}/{path.lstrip('/')}"

    def set_reply(self, status: int, body: str = "") -> None:
        """Answer every later request with this HTTP status and body (e.g. 500 to make callbacks fail)."""
        with self._changed:
            self._status, self._body = status, body

    # --- what arrived --------------------------------------------------------------------------

    def _add(self, **fields: Any) -> tuple[int, str]:
        with self._changed:
            request = WebhookRequest(index=len(self._requests), at=time.monotonic(), **fields)
            self._requests.append(request)
            self._changed.notify_all()
            return self._status, self._body

    @property
    def requests(self) -> list[WebhookRequest]:
        """Every request so far, in arrival order (a copy)."""
        with self._changed:
            return list(self._requests)

    def wait_for(
        self, path: Any = None, *, method: str | None = None, timeout: float = DEFAULT_TIMEOUT, **params: Any
    ) -> WebhookRequest:
        """The first request matching path, method and params that no earlier wait_for returned.

        path and each param may be a literal, a compiled regex, a callable or a simulator.matching
        Matcher; params are looked up in the query and form fields, then in a JSON object body. Waits
        up to `timeout` seconds on a condition; raises AssertionError with the nearest requests.
        """
        predicate = self._predicate(path, method, params)
        with self._changed:
            request = claim_first(lambda: self._requests, predicate, self._claimed, self._changed.wait, timeout)
            if request is None:
                raise AssertionError(self._not_seen_report(path, method, params, timeout))
            return request

    def assert_none(self, path: Any = None, within: float = 0.0, *, method: str | None = None, **params: Any) -> None:
        """Fail if a matching request not yet returned by wait_for is here now or arrives within `within` seconds."""
        predicate = self._predicate(path, method, params)
        with self._changed:
            found = unclaimed_within(lambda: self._requests, predicate, self._claimed, self._changed.wait, within)
            if found:
                raise AssertionError(
                    f"expected no {_what(path, method, params)}, but got:\n"
                    + "\n".join(f"  {r.describe()}" for r in found[:10])
                    + self._context()
                )

    # --- matching and reports ------------------------------------------------------------------

    @staticmethod
    def _route_matches(request: WebhookRequest, path: Any, method: str | None) -> bool:
        if method is not None and request.method.upper() != method.upper():
            return False
        return path is None or value_matches(request.path, path)

    def _predicate(self, path: Any, method: str | None, params: Mapping[str, Any]) -> Callable[[WebhookRequest], bool]:
        def matches(request: WebhookRequest) -> bool:
            return self._route_matches(request, path, method) and not mismatches(request.lookup, params)

        return matches

    def _not_seen_report(self, path: Any, method: str | None, params: Mapping[str, Any], timeout: float) -> str:
        lines = [f"no {_what(path, method, params)} within {timeout:g} s"]
        candidates = [
            r for r in self._requests if r.index not in self._claimed and self._route_matches(r, path, method)
        ]
        if candidates:
            lines.append("nearest requests:")
            for request in candidates[-5:]:
                lines.append(f"  {request.describe()}")
                lines.extend(f"      {problem}" for problem in mismatches(request.lookup, params))
        return "\n".join(lines) + self._context()

    def _context(self, count: int = 10) -> str:
        tail = self._requests[-count:]
        if not tail:
            return f"\nwebhook {self.host}:{self.port}: no requests received"
        lines = [f"\nwebhook {self.host}:{self.port}: last {len(tail)} of {len(self._requests)} request(s):"]
        lines.extend(f"  {r.describe()}{' (already returned)' if r.index in self._claimed else ''}" for r in tail)
        return "\n".join(lines)


def _what(path: Any, method: str | None, params: Mapping[str, Any]) -> str:
    route = f"{method.upper() + ' ' if method else ''}{'request' if path is None else describe(path)}"
    cond = ", ".join(f"{k} {describe(v)}" for k, v in params.items())
    return route + (f" with {cond}" if cond else "")


__all__ = ["WebhookReceiver", "WebhookRequest"]
