"""A small asyncio HTTP/1.1 server for JSON APIs: routing, keep-alive, bounded input and JSON errors.

Deliberately minimal (no dependency): requests carry a Content-Length body or none, responses are
JSON. It runs on the caller's event loop, so handlers may call into objects that are not
thread-safe, and no input can do more than cost its own connection.
"""

from __future__ import annotations

import asyncio
import inspect
import json
import logging
import re
from dataclasses import dataclass, field
from http import HTTPStatus
from typing import Any, Callable
from urllib.parse import parse_qs, unquote, urlsplit

log = logging.getLogger("simulator.control")

MAX_BODY = 1 << 20  # 1 MiB: far above any control request, small enough to refuse floods
MAX_HEAD = 64 * 1024  # request line plus headers
MAX_HEADERS = 100
IDLE_TIMEOUT = 60.0  # a keep-alive connection with no request for this long is closed
BODY_TIMEOUT = 30.0  # a body announced by Content-Length must arrive within this

_REQUEST_LINE = re.compile(r"([A-Z]+) (\S+) HTTP/(1\.[01])")
_TOKEN = re.compile(r"[!#$%&'*+\-.^_`|~0-9A-Za-z]+")
_PARAM = re.compile(r"\{(\w+)\}")


class HttpError(Exception):
    """An error answer: status, a human-readable detail, and the request field at fault if any."""

    def __init__(
        self, status: int, detail: str, *, field: str | None = None, headers: dict[str, str] | None = None, close: bool = False
    ) -> None:
        super().__init__(detail)
        self.status = status
        self.detail = detail
        self.field = field
        self.headers = headers or {}
        self.close = close

    def body(self) -> dict[str, Any]:
        """The JSON error document: {"error": slug, "detail": text, "field": name?}."""
        document: dict[str, Any] = {"error": error_slug(self.status), "detail": self.detail}
        if self.field is not None:
            document["field"] = self.field
        return document


def error_slug(status: int) -> str:
    """'not_found' for 404: the status phrase as an identifier."""
    try:
        phrase = HTTPStatus(status).phrase
    except ValueError:
        phrase = f"status {status}"
    return re.sub(r"\W+", "_", phrase.lower()).strip("_")


@dataclass
class Request:
    """One parsed HTTP request; params holds the values of the route's {placeholders}."""

    method: str
    path: str
    query: dict[str, list[str]]
    headers: dict[str, str]
    body: bytes
    version: str = "1.1"
    params: dict[str, str] = field(default_factory=dict)

    def arg(self, name: str) -> str | None:
        """The last value of a query parameter, or None when absent."""
        values = self.query.get(name)
        return values[-1] if values else None

    def json(self) -> Any:
        """The body parsed as JSON; 400 when it is missing or malformed."""
        if not self.body.strip():
            raise HttpError(400, "a JSON request body is required")
        try:
            return json.loads(self.body.decode("utf-8"))
        except UnicodeDecodeError:
            raise HttpError(400, "the request body is not UTF-8") from None
        except json.JSONDecodeError as exc:
            raise HttpError(400, f"malformed JSON: {exc.msg} at line {exc.lineno} column {exc.colno}") from None

    def json_object(self) -> dict[str, Any]:
        """The body as a JSON object; 400 when it is anything else."""
        document = self.json()
        if not isinstance(document, dict):
            raise HttpError(400, f"the request body must be a JSON object, not {json_type(document)}")
        return document


@dataclass
class Response:
    """A JSON answer with its status and any extra headers."""

    status: int = 200
    body: Any = None
    headers: dict[str, str] = field(default_factory=dict)


Handler = Callable[[Request], Any]


@dataclass(frozen=True)
class Route:
    """A method and a path pattern such as '/messages/{id}', and the handler that answers it."""

    method: str
    pattern: str
    handler: Handler
    regex: re.Pattern[str]


class Router:
    """Method + path pattern -> handler; resolves a request to its route or a 404/405."""

    def __init__(self) -> None:
        self.routes: list[Route] = []

    def add(self, method: str, pattern: str, handler: Handler) -> None:
        """Register a handler; {name} in the pattern matches one path segment."""
        regex = re.compile("^" + _PARAM.sub(r"(?P<\1>[^/]+)", pattern) + "$")
        self.routes.append(Route(method.upper(), pattern, handler, regex))

    def table(self) -> set[tuple[str, str]]:
        """Every (method, pattern) served."""
        return {(route.method, route.pattern) for route in self.routes}

    def resolve(self, method: str, path: str) -> tuple[Route, dict[str, str]]:
        """The route for this request and its path parameters; HttpError 404 or 405 otherwise."""
        allowed: list[str] = []
        for route in self.routes:
            found = route.regex.match(path)
            if found is None:
                continue
            if route.method == method:
                return route, {name: unquote(value) for name, value in found.groupdict().items()}
            allowed.append(route.method)
        if allowed:
            allow = ", ".join(sorted(set(allowed)))
            raise HttpError(405, f"{method} is not allowed on {path}; use {allow}", headers={"Allow": allow})
        raise HttpError(404, f"no such endpoint: {path}")


class HttpServer:
    """Serves a Router over HTTP/1.1 on the running event loop."""

    def __init__(self, router: Router, *, max_body: int = MAX_BODY, idle_timeout: float = IDLE_TIMEOUT) -> None:
        self.router = router
        self.max_body = max_body
        self.idle_timeout = idle_timeout
        self._server: asyncio.AbstractServer | None = None
        self._connections: set[asyncio.StreamWriter] = set()

    async def start(self, host: str = "127.0.0.1", port: int = 0) -> tuple[str, int]:
        """Listen on host:port (0 picks a free port); return the bound address."""
        self._server = await asyncio.start_server(self._serve_connection, host, port, limit=MAX_HEAD, reuse_address=True)
        address = self._server.sockets[0].getsockname()
        log.info("control API listening on http://%s:%d", address[0], address[1])
        return address[0], address[1]

    @property
    def address(self) -> tuple[str, int]:
        """The listening host and port."""
        if self._server is None or not self._server.sockets:
            raise RuntimeError("control API not started")
        host, port = self._server.sockets[0].getsockname()[:2]
        return host, port

    async def stop(self) -> None:
        """Stop listening and close every connection."""
        if self._server is None:
            return
        self._server.close()
        for writer in list(self._connections):
            writer.close()
        await self._server.wait_closed()
        self._server = None
        log.info("control API stopped")

    async def _serve_connection(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self._connections.add(writer)
        try:
            keep_alive = True
            while keep_alive:
                try:
                    request = await self._read_request(reader, writer)
                except HttpError as exc:
                    await self._write(writer, Response(exc.status, exc.body(), exc.headers), keep_alive=False)
                    return
                if request is None:
                    return
                keep_alive = _wants_keep_alive(request)
                response = await self._dispatch(request)
                await self._write(writer, response, keep_alive=keep_alive)
        except (ConnectionError, asyncio.IncompleteReadError, TimeoutError):
            pass  # the peer went away or idled out: nothing to answer
        except Exception:  # noqa: BLE001 - a bug here must cost one connection, never the server
            log.exception("control API connection failed")
        finally:
            self._connections.discard(writer)
            writer.close()

    async def _read_request(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> Request | None:
        """Read one request; None when the peer closed (or idled out) between requests."""
        try:
            async with asyncio.timeout(self.idle_timeout):
                head = await reader.readuntil(b"\r\n\r\n")
        except asyncio.IncompleteReadError as exc:
            if exc.partial.strip():
                raise HttpError(400, "incomplete request head", close=True) from None
            return None
        except asyncio.LimitOverrunError:
            raise HttpError(431, f"request line and headers exceed {MAX_HEAD} bytes", close=True) from None
        except TimeoutError:
            return None
        lines = head[:-4].decode("latin-1").split("\r\n")
        matched = _REQUEST_LINE.fullmatch(lines[0])
        if matched is None:
            raise HttpError(400, f"malformed request line {lines[0][:100]!r}", close=True)
        method, target, version = matched.groups()
        if len(lines) - 1 > MAX_HEADERS:
            raise HttpError(431, f"more than {MAX_HEADERS} headers", close=True)
        headers: dict[str, str] = {}
        for line in lines[1:]:
            name, colon, value = line.partition(":")
            if not colon or not _TOKEN.fullmatch(name):
                raise HttpError(400, f"malformed header line {line[:100]!r}", close=True)
            headers[name.lower()] = value.strip()
        if "transfer-encoding" in headers:
            raise HttpError(501, "Transfer-Encoding is not supported: send a Content-Length", close=True)
        length_text = headers.get("content-length", "0")
        if not length_text.isdigit():
            raise HttpError(400, f"invalid Content-Length {length_text[:40]!r}", field="Content-Length", close=True)
        length = int(length_text)
        if length > self.max_body:
            raise HttpError(413, f"request body of {length} bytes exceeds the limit of {self.max_body}", close=True)
        if length and headers.get("expect", "").lower() == "100-continue":
            writer.write(f"HTTP/{version} 100 Continue\r\n\r\n".encode())
        async with asyncio.timeout(BODY_TIMEOUT):
            body = await reader.readexactly(length) if length else b""
        parts = urlsplit(target)
        return Request(method, parts.path, parse_qs(parts.query, keep_blank_values=True), headers, body, version)

    async def _dispatch(self, request: Request) -> Response:
        try:
            route, request.params = self.router.resolve(request.method, request.path)
            result = route.handler(request)
            if inspect.isawaitable(result):
                result = await result
        except HttpError as exc:
            return Response(exc.status, exc.body(), exc.headers)
        except Exception:  # noqa: BLE001 - answer 500 and keep serving
            log.exception("control API: %s %s failed", request.method, request.path)
            return Response(500, HttpError(500, "internal error; see the simulator's log").body())
        return result if isinstance(result, Response) else Response(200, result)

    async def _write(self, writer: asyncio.StreamWriter, response: Response, *, keep_alive: bool) -> None:
        body = (json.dumps(response.body, ensure_ascii=False, default=str) + "\n").encode()
        try:
            reason = HTTPStatus(response.status).phrase
        except ValueError:
            reason = "Unknown"
        headers = {
            "Content-Type": "application/json",
            "Content-Length": str(len(body)),
            "Connection": "keep-alive" if keep_alive else "close",
            **response.headers,
        }
        head = f"HTTP/1.1 {response.status} {reason}\r\n" + "".join(f"{k}: {v}\r\n" for k, v in headers.items()) + "\r\n"
        writer.write(head.encode("latin-1") + body)
        await writer.drain()


def _wants_keep_alive(request: Request) -> bool:
    """HTTP/1.1 keeps the connection unless told to close; HTTP/1.0 closes unless told to keep it."""
    connection = request.headers.get("connection", "").lower()
    if request.version == "1.0":
        return connection == "keep-alive"
    return connection != "close"


def json_type(value: Any) -> str:
    """The JSON name of a value's type, for error messages."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, (int, float)):
        return "a number"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, list):
        return "an array"
    return "an object"


def take(body: dict[str, Any], name: str, kind: type | tuple[type, ...], what: str, *, default: Any = ..., nullable: bool = False) -> Any:
    """A field of a JSON body, checked against kind (bools are never numbers); 400 naming the field otherwise.

    Without a default the field is required; `what` names the expected type in the error ("a string").
    """
    if name not in body:
        if default is ...:
            raise HttpError(400, f"missing field {name!r}: {what} is required", field=name)
        return default
    value = body[name]
    if value is None and nullable:
        return None
    if not isinstance(value, kind) or (isinstance(value, bool) and bool not in _as_tuple(kind)):
        raise HttpError(400, f"field {name!r} must be {what}, not {json_type(value)}", field=name)
    return value


def _as_tuple(kind: type | tuple[type, ...]) -> tuple[type, ...]:
    return kind if isinstance(kind, tuple) else (kind,)


def reject_unknown(body: dict[str, Any], known: set[str] | frozenset[str]) -> None:
    """400 naming the first field of body that is not in known (a typo must not be ignored)."""
    for name in body:
        if name not in known:
            raise HttpError(400, f"unknown field {name!r}; expected {', '.join(sorted(known))}", field=name)
