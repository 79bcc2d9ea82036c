"""Watching the SMSC side of a load run: submit_sm with their responses, and the receipts it sends.

`SmscCollector` turns PDU log entries, in log order, into samples: a submit_sm 'in' opens a sample
(the correlation id is found in its text), the submit_sm_resp 'out' on the same session with the
same sequence number closes it with its status and message id, and a receipt deliver_sm/data_sm
'out' becomes a ReceiptSample. Two feeds exist: `InProcessObserver` (a listener on a SimulatedSmsc's
PDU log, stamped with the real time the entry was logged, so a virtual clock works too) and
`ControlObserver` (polling a running simulator's GET /pdus; entries keep the simulator's own times,
so it must run on the real clock).
"""

from __future__ import annotations

import re
import threading
import time
from typing import Any, Callable

from ..harness.scenario_runner import RemotePdu, http_call
from ..harness.smsc import SimulatedSmsc
from ..network.receipts import parse_receipt_text, state_from_stat
from ..smpp.constants import MessageState
from ..traffic import LoggedPdu
from .report import ReceiptSample, SubmitSample

RECEIPT_TYPES = (0x04, 0x20)  # esm_class message type: SMSC delivery receipt, intermediate notification
POLL_INTERVAL = 0.1  # seconds between GET /pdus polls
PAGE = 1000  # PDUs per GET /pdus page
MAX_PAGES_PER_POLL = 100  # bounds one poll: 100k PDUs


class SmscCollector:
    """Samples from PDU log entries fed in order; thread-safe (an SMSC thread feeds, the driver reads)."""

    def __init__(self, id_pattern: re.Pattern[str]) -> None:
        self.id_pattern = id_pattern
        self.submits: list[SubmitSample] = []
        self.receipts: list[ReceiptSample] = []
        self.notes: list[str] = []
        self._pending: dict[tuple[int, int], SubmitSample] = {}
        self._lock = threading.Lock()
        self.ours = 0  # submit_sm carrying one of our ids, for progress

    def add(self, index: int, at: float, session: int, direction: str, command: str, status: int, sequence: int, get: Callable[[str], Any]) -> None:
        """Take one log entry (get(key) reads a field or TLV, raising KeyError when absent)."""
        if direction == "in" and command == "submit_sm":
            found = self.id_pattern.search(_text(get))
            sample = SubmitSample(found.group(0) if found else None, at, None, "", index)
            with self._lock:
                self.submits.append(sample)
                self._pending[(session, sequence)] = sample
                self.ours += found is not None
        elif direction == "out" and command == "submit_sm_resp":
            with self._lock:
                sample = self._pending.pop((session, sequence), None)
                if sample is not None:
                    sample.status = status
                    sample.message_id = str(_get(get, "message_id") or "")
        elif direction == "out" and command in ("deliver_sm", "data_sm"):
            receipt = receipt_sample(at, get)
            if receipt is not None:
                with self._lock:
                    self.receipts.append(receipt)

    def snapshot(self) -> tuple[list[SubmitSample], list[ReceiptSample]]:
        """Copies of the samples so far."""
        with self._lock:
            return list(self.submits), list(self.receipts)

    def counts(self) -> dict[str, int]:
        """Live figures for the progress line: our submit_sm, accepted, throttled, receipts."""
        with self._lock:
            ours = [s for s in self.submits if s.id is not None]
            return {
                "submits": len(ours),
                "accepted": sum(1 for s in ours if s.status == 0),
                "refused": sum(1 for s in ours if s.status not in (None, 0)),
                "receipts": len(self.receipts),
            }


def _get(get: Callable[[str], Any], key: str) -> Any:
    try:
        return get(key)
    except KeyError:
        return None


def _text(get: Callable[[str], Any]) -> str:
    text = _get(get, "text")
    if isinstance(text, bytes):
        return text.decode("latin-1")
    return text or ""


def receipt_sample(at: float, get: Callable[[str], Any]) -> ReceiptSample | None:
    """A ReceiptSample from a deliver_sm/data_sm that is a delivery receipt (None for an MO)."""
    esm_class = _get(get, "esm_class") or 0
    if esm_class & 0x3C not in RECEIPT_TYPES:
        return None
    message_id = _get(get, "receipted_message_id")
    state = _get(get, "message_state")
    fields: dict[str, str] = {}
    try:
        fields = parse_receipt_text(_text(get))
    except ValueError:
        pass
    message_id = message_id or fields.get("id")
    if not message_id:
        return None
    if state is not None:
        name = MessageState(int(state)).name
    elif fields.get("stat"):
        name = state_from_stat(fields["stat"]).name
    else:
        name = "UNKNOWN"
    return ReceiptSample(str(message_id), at, name)


def receipt_message_id(get: Callable[[str], Any]) -> str | None:
    """The message id a receipt PDU is about (receipted_message_id, else the text's id:), None if not a receipt."""
    sample = receipt_sample(0.0, get)
    return sample.message_id if sample is not None else None


class InProcessObserver:
    """Feeds a collector from a SimulatedSmsc's PDU log listener, stamping entries with time.time()."""

    def __init__(self, smsc: SimulatedSmsc, collector: SmscCollector) -> None:
        self.smsc = smsc
        self.collector = collector

    def _on_entry(self, entry: LoggedPdu) -> None:
        # Called on the server's thread as the PDU is logged: the real time now is when it happened.
        self.collector.add(entry.index, time.time(), entry.session, entry.direction, entry.command, entry.status, entry.sequence_number, entry.__getitem__)

    def start(self) -> None:
        """Start listening."""
        self.smsc.run(self.smsc.pdu_log.listeners.append, self._on_entry)

    def poll(self) -> None:
        """Nothing to do: entries arrive as they are logged."""

    def stop(self) -> None:
        """Stop listening (what was seen stays in the collector)."""
        self.smsc.run(self.smsc.pdu_log.listeners.remove, self._on_entry)


class ControlObserver:
    """Feeds a collector by polling a running simulator's GET /pdus (its clock must be real)."""

    def __init__(self, control_url: str, collector: SmscCollector, poll_interval: float = POLL_INTERVAL) -> None:
        self.url = control_url.rstrip("/")
        self.collector = collector
        self.poll_interval = poll_interval
        self.since = 0
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()

    def _call(self, path: str) -> Any:
        try:
            answer = http_call("GET", self.url + path, timeout=10)
        except OSError as exc:
            raise ConnectionError(f"control API {self.url} unreachable: {exc}") from None
        if answer.status != 200 or not isinstance(answer.json, dict):
            raise ConnectionError(f"GET {self.url}{path}: HTTP {answer.status}: {answer.body[:200]}")
        return answer.json

    def check(self) -> None:
        """Fail (ValueError) unless the simulator is ready and runs on the real clock: PDU times must be real."""
        self._call("/readyz")
        kind = self._call("/clock").get("kind")
        if kind != "real":
            raise ValueError(f"the simulator at {self.url} runs a {kind} clock: load runs need `smsc-sim serve --clock real`")

    def start(self) -> None:
        """Skip what is already logged, then poll in a background thread."""
        self._fetch(feed=False)
        self._thread = threading.Thread(target=self._run, name="load-observer", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while not self._stop.wait(self.poll_interval):
            try:
                self._fetch()
            except ConnectionError as exc:
                self.collector.notes.append(f"polling the control API failed once: {exc}")

    def _fetch(self, feed: bool = True) -> None:
        with self._lock:
            for _ in range(MAX_PAGES_PER_POLL):
                page = self._call(f"/pdus?since={self.since}&limit={PAGE}")
                entries = page["pdus"]
                if feed and entries and entries[0]["index"] > self.since + 1:
                    self.collector.notes.append(
                        f"{entries[0]['index'] - self.since - 1} PDUs left the simulator's log before they were read "
                        "(raise smsc.pdu_log): figures may be short"
                    )
                for data in entries if feed else ():
                    pdu = RemotePdu(data)
                    self.collector.add(pdu.index, data["at"], data["session"], pdu.direction, pdu.command, data["command_status"], data["sequence_number"], pdu.__getitem__)
                self.since = page["next_since"]
                if len(entries) < PAGE:
                    return

    def poll(self) -> None:
        """Read what is new now (used before the final figures)."""
        self._fetch()

    def stop(self) -> None:
        """Stop polling after a last read."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(5)
        try:
            self._fetch()
        except ConnectionError as exc:
            self.collector.notes.append(f"last poll of the control API failed: {exc}")


__all__ = ["ControlObserver", "InProcessObserver", "SmscCollector", "receipt_message_id", "receipt_sample"]
