"""Load targets: our own ESME pool speaking SMPP to the SMSC, or a gateway's HTTP send API.

Each request carries its correlation id in the message text (`{id}` in the text template), which
is how the SMSC-side submit_sm is matched to it; receipts come back to the ESME pool as deliver_sm
(matched by message id) or to a webhook receiver as callbacks carrying the id (`{id}` in the
request template's callback URL).
"""

from __future__ import annotations

import asyncio
import re
import time
from concurrent.futures import ThreadPoolExecutor
from typing import Any, Mapping

from ..harness.esme import AsyncEsme
from ..harness.scenario import HttpRequest, Variables, to_matcher
from ..harness.scenario_runner import call_template
from ..harness.webhook import WebhookReceiver
from ..matching import pdu_field, value_matches
from ..network.encoding import encode_text
from ..smpp import pdu as P
from ..smpp.constants import CommandStatus as S
from ..smpp.session import SessionConfig
from .observe import receipt_message_id
from .report import CallbackSample

DEFAULT_TEXT = "load {id}"


class SmppTarget:
    """`binds` ESMEs of ours, each with a window of `window` requests; requests go round robin."""

    def __init__(
        self,
        host: str,
        port: int,
        *,
        system_id: str = "smppclient1",
        password: str = "password",
        binds: int = 1,
        window: int = 10,
        mode: str = "transceiver",
        text: str = DEFAULT_TEXT,
        fields: Mapping[str, Any] | None = None,
        response_timeout: float = 10.0,
        default_alphabet: str = "gsm",
    ) -> None:
        self.host, self.port = host, port
        self.system_id, self.password = system_id, password
        self.binds, self.window, self.mode = binds, window, mode
        self.text = text
        self.fields = dict(fields or {})
        self.response_timeout = response_timeout
        self.default_alphabet = default_alphabet
        self.esmes: list[AsyncEsme] = []
        self._callbacks: list[CallbackSample] = []

    async def start(self) -> None:
        """Connect and bind every ESME."""
        config = SessionConfig(window=self.window, session_init_timeout=None, response_timeout=self.response_timeout)
        for _ in range(self.binds):
            esme = await asyncio.wait_for(AsyncEsme.connect(self.host, self.port, config), self.response_timeout)
            esme.deliver_status = self._on_deliver
            self.esmes.append(esme)
            await esme.bind(self.mode, self.system_id, self.password)

    def _on_deliver(self, pdu: P.Pdu) -> int:
        # AsyncEsme asks for the deliver_sm_resp status as the PDU arrives: the moment to stamp it.
        message_id = receipt_message_id(lambda key: _pdu_get(pdu, key))
        if message_id is not None:
            self._callbacks.append(CallbackSample(time.time(), message_id=message_id))
        return S.ESME_ROK

    async def send(self, request_id: str, index: int) -> None:
        """One submit_sm with the id in its text, on bind index % binds; raises when unanswered."""
        data_coding, octets = encode_text(self.text.replace("{id}", request_id), self.default_alphabet)
        pdu = P.SubmitSm(**{**self.fields, "data_coding": data_coding, "short_message": octets})
        esme = self.esmes[index % len(self.esmes)]
        future = await esme.send_request(pdu)
        await asyncio.wait_for(future, self.response_timeout)

    def callbacks(self) -> list[CallbackSample]:
        """Receipts received by our ESMEs."""
        return list(self._callbacks)

    async def stop(self) -> None:
        """Unbind and close every ESME (bounded)."""
        for esme in self.esmes:
            try:
                await asyncio.wait_for(esme.unbind(), 5)
            except Exception:  # noqa: BLE001 - a dead link must not stop the report
                await _close_quietly(esme)
        self.esmes.clear()


async def _close_quietly(esme: AsyncEsme) -> None:
    try:
        await esme.close(1.0)
    except Exception:  # noqa: BLE001
        pass


def _pdu_get(pdu: P.Pdu, key: str) -> Any:
    return pdu_field(pdu, key)


class HttpTarget:
    """A gateway's HTTP send API: the request template (as in scenarios) expanded per request.

    Variables: `{id}`, `{index}`, `{to}`, `{text}` (the text template with `{id}` filled in),
    `{webhook}` (the receiver's base URL) and any `extra` ones. A response is taken when its status
    matches the template's `expect_status`, else when it is 2xx. Callbacks are the receiver's
    requests whose `callback_param` (default `id`) is one of ours and whose other params fullmatch
    `callback_filter`'s regexes (e.g. type=1 for Kannel's final DLRs).
    """

    def __init__(
        self,
        template: HttpRequest,
        *,
        to: str,
        text: str = DEFAULT_TEXT,
        extra: Mapping[str, Any] | None = None,
        concurrency: int = 100,
        webhook: WebhookReceiver | None = None,
        callback_param: str = "id",
        callback_filter: Mapping[str, str] | None = None,
    ) -> None:
        self.template = template
        self.to, self.text = to, text
        self.extra = dict(extra or {})
        self.webhook = webhook
        self.callback_param = callback_param
        self.callback_filter = {k: re.compile(v) for k, v in (callback_filter or {}).items()}
        self._pool = ThreadPoolExecutor(max_workers=concurrency, thread_name_prefix="load-http")
        # WebhookRequest.at is time.monotonic(); reports use UNIX time.
        self._wall_offset = time.time() - time.monotonic()

    async def start(self) -> None:
        """Start the webhook receiver, if any."""
        if self.webhook is not None:
            self.webhook.start()

    def variables(self, request_id: str, index: int) -> Variables:
        """The variables a request's template is expanded with."""
        values: dict[str, Any] = {**self.extra, "id": request_id, "index": index, "to": self.to}
        values["text"] = self.text.replace("{id}", request_id)
        if self.webhook is not None:
            values["webhook"] = self.webhook.url("").rstrip("/")
        return Variables(values)

    async def send(self, request_id: str, index: int) -> None:
        """One HTTP request; raises when it fails or answers an unexpected status."""
        scope = self.variables(request_id, index)
        t = self.template
        response = await asyncio.get_running_loop().run_in_executor(self._pool, call_template, t, scope)
        wanted = t.expect_status
        ok = value_matches(response.status, to_matcher(wanted)) if wanted is not None else 200 <= response.status < 300
        if not ok:
            raise RuntimeError(f"HTTP {response.status}: {response.body[:200]}")

    def callbacks(self) -> list[CallbackSample]:
        """Webhook calls that carry one of our ids and pass the filter."""
        if self.webhook is None:
            return []
        found = []
        for request in self.webhook.requests:
            try:
                rid = request.lookup(self.callback_param)
            except KeyError:
                continue
            if all(_fullmatch(pattern, request, key) for key, pattern in self.callback_filter.items()):
                found.append(CallbackSample(request.at + self._wall_offset, id=str(rid)))
        return found

    async def stop(self) -> None:
        """Stop the pool and the receiver."""
        self._pool.shutdown(wait=False, cancel_futures=True)
        if self.webhook is not None:
            self.webhook.stop()


def kannel_sendsms_request(variables: Mapping[str, str], dlr_mask: int = 3) -> HttpRequest:
    """Kannel's sendsms as a request template, from `KannelGateway.variables()` (sendsms_url, username, password).

    No `from`: Kannel's default-sender. The dlr-url points at the load tester's webhook with the
    correlation id and Kannel's callback type (`%d`: 1 delivered, 2 failed, 8 SMSC ACK...), so
    `callback_filter={"type": "1"}` counts the delivered receipts.
    """
    return HttpRequest(
        url=variables["sendsms_url"],
        query={
            "username": variables["username"],
            "password": variables["password"],
            "to": "{to}",
            "text": "{text}",
            "dlr-mask": str(dlr_mask),
            "dlr-url": "{webhook}/dlr?id={id}&type=%d",
        },
        expect_status=202,
    )


def _fullmatch(pattern: re.Pattern[str], request: Any, key: str) -> bool:
    try:
        return pattern.fullmatch(str(request.lookup(key))) is not None
    except KeyError:
        return False


__all__ = ["DEFAULT_TEXT", "HttpTarget", "SmppTarget", "kannel_sendsms_request"]
