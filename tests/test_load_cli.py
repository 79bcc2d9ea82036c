"""`smsc-sim load` end to end: the SMPP target against an in-process simulator, the HTTP target against a stub gateway."""

from __future__ import annotations

import asyncio
import http.server
import json
import threading
import urllib.parse
import urllib.request
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from simulator.harness.esme import SyncEsme
from simulator.harness.scenario import HttpRequest
from simulator.harness.smsc import SimulatedSmsc
from simulator.harness.webhook import WebhookReceiver
from simulator.load.cli import load_command
from simulator.load.driver import Schedule
from simulator.load.observe import InProcessObserver, SmscCollector, receipt_message_id
from simulator.load.run import RunOptions, id_pattern, run_load
from simulator.load.targets import HttpTarget, SmppTarget
from simulator.matching import pdu_field


def _load(*args: str) -> Any:
    return CliRunner().invoke(load_command, list(args), catch_exceptions=False)


def test_smpp_target_unthrottled_all_accepted(tmp_path: Path) -> None:
    out = tmp_path / "r.json"
    history = tmp_path / "h.csv"
    result = _load("--rate", "50", "--duration", "1", "--network", "open", "--binds", "2", "--window", "5",
                   "--no-receipts", "--drain", "2", "--json", str(out), "--csv", str(history),
                   "--expect-lost", "0", "--expect-duplicates", "0", "--expect-throttled", "0")
    assert result.exit_code == 0, result.output
    report = json.loads(out.read_text())
    counts = report["counts"]
    assert (counts["requested"], counts["submits"], counts["accepted"], counts["lost"], counts["duplicates"]) == (50, 50, 50, 0, 0)
    assert report["max_window"]["submits"]["count"] == 50
    assert report["latency"]["request_to_submit"]["count"] == 50
    assert history.read_text().splitlines()[0].startswith("second,start,requested,submits,accepted")
    assert "accepted         50" in result.output


def test_smpp_target_against_the_default_throttle_is_counted_exactly() -> None:
    # A virtual clock never refills the 5/s bucket: exactly its burst of 5 goes through (the observer
    # stamps PDUs with real time, so the rates are still real).
    with SimulatedSmsc(network="default", clock="virtual", strict=False) as smsc:
        collector = SmscCollector(id_pattern("th"))
        target = SmppTarget(smsc.host, smsc.port, text="load {id}", fields={"destination_addr": "33612345678", "dest_addr_ton": 1, "dest_addr_npi": 1})
        options = RunOptions(drain=1.0, expect_receipts=False, run_token="th")
        report = asyncio.run(run_load(target, InProcessObserver(smsc, collector), collector, Schedule(50, 50, 1.0), options))
        statuses = [e.status for e in smsc.pdus("submit_sm_resp")]
    assert (report.counts["accepted"], report.counts["throttled"], report.counts["lost"]) == (5, 45, 0)
    assert statuses.count(0) == 5 and len(statuses) == 50
    assert report.accepted_window.count == 5
    assert len(report.throttled_times) == 45


def test_threshold_violation_exits_1_naming_the_window(tmp_path: Path) -> None:
    out = tmp_path / "r.json"
    result = _load("--rate", "40", "--count", "10", "--network", "open", "--no-receipts", "--drain", "1",
                   "--expect-max-rate", "5/1s", "--expect-lost", "0", "--json", str(out))
    assert result.exit_code == 1, result.output
    assert "threshold violated: max rate 5/1s: 10 submit_sm in the 1 s window [+0.0" in result.output
    assert " UTC), first at +0.0" in result.output
    assert json.loads(out.read_text())["violations"][0].startswith("max rate 5/1s")


@pytest.mark.parametrize(
    "args,message",
    [
        (["--rate", "5"], "give --count, --duration or both"),
        (["--rate", "5", "--count", "1", "--text", "hello"], "must contain {id}"),
        (["--rate", "5", "--count", "1", "--target", "http"], "needs --request FILE or --url"),
        (["--rate", "5", "--count", "1", "--smsc", "127.0.0.1:1"], "--smsc needs --control"),
        (["--rate", "0", "--count", "1"], "--rate"),
        (["--rate", "5", "--count", "1", "--expect-max-rate", "lots"], "is not a rate"),
    ],
)
def test_usage_errors_exit_2(args: list[str], message: str) -> None:
    result = CliRunner().invoke(load_command, args)
    assert result.exit_code == 2, result.output
    assert message in result.output


def test_chart_is_a_png(tmp_path: Path) -> None:
    pytest.importorskip("matplotlib")
    chart = tmp_path / "rate.png"
    result = _load("--rate", "20", "--count", "10", "--no-receipts", "--drain", "1", "--chart", str(chart))
    assert result.exit_code == 0, result.output
    assert chart.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


# --- the HTTP target against a stub gateway ---------------------------------------------------------


class _StubGateway:
    """GET /send?to=&text=&dlr= submits over SMPP and calls dlr back on the receipt; #3 is dropped, #7 sent twice."""

    def __init__(self, smsc: SimulatedSmsc) -> None:
        self.esme = SyncEsme(smsc.host, smsc.port)
        self.esme.bind("transceiver", smsc.system_id, smsc.password)
        self.dlr_urls: dict[str, str] = {}
        self.count = 0
        self.lock = threading.Lock()
        self.stop = threading.Event()
        gateway = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self) -> None:  # noqa: N802 - http.server naming
                query = dict(urllib.parse.parse_qsl(urllib.parse.urlsplit(self.path).query))
                with gateway.lock:
                    number = gateway.count
                    gateway.count += 1
                copies = 0 if number == 3 else 2 if number == 7 else 1
                for _ in range(copies):
                    response = gateway.esme.submit_sm(destination_addr=query["to"].lstrip("+"), dest_addr_ton=1, dest_addr_npi=1,
                                                      short_message=query["text"], registered_delivery=1, check=False)
                    gateway.dlr_urls[response.message_id] = query["dlr"]
                self.send_response(202)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args: object) -> None:
                pass

        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}/send"
        self.threads = [threading.Thread(target=self.httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True),
                        threading.Thread(target=self._receipts, daemon=True)]
        for thread in self.threads:
            thread.start()

    def _receipts(self) -> None:
        while not self.stop.is_set():
            try:
                pdu = self.esme.next_message(timeout=0.1)
            except Exception:  # noqa: BLE001 - a timeout: look again unless stopped
                continue
            url = self.dlr_urls.get(receipt_message_id(lambda key: pdu_field(pdu, key)) or "")
            if url:
                urllib.request.urlopen(url + "&stat=DELIVRD", timeout=5).read()

    def close(self) -> None:
        self.stop.set()
        self.httpd.shutdown()
        self.httpd.server_close()
        for thread in self.threads:
            thread.join(5)
        self.esme.close()


def test_http_target_reports_a_gateway_that_drops_and_duplicates() -> None:
    with SimulatedSmsc(network="open", clock="scaled:10", strict=False) as smsc:
        gateway = _StubGateway(smsc)
        try:
            collector = SmscCollector(id_pattern("hx"))
            template = HttpRequest(url=gateway.url, query={"to": "{to}", "text": "{text}", "dlr": "{webhook}/dlr?id={id}"}, expect_status=202)
            target = HttpTarget(template, to="+33612345678", webhook=WebhookReceiver(), callback_filter={"stat": "DELIVRD"})
            options = RunOptions(drain=1.5, run_token="hx")  # #3 never arrives: the drain runs out
            report = asyncio.run(run_load(target, InProcessObserver(smsc, collector), collector, Schedule(40, 20, 10), options))
        finally:
            gateway.close()
    counts = report.counts
    assert (counts["requested"], counts["request_errors"], counts["lost"], counts["duplicates"]) == (20, 0, 1, 1)
    assert report.lost_ids == ["ldhx-000003"]
    assert report.duplicate_ids == ["ldhx-000007"]
    assert (counts["submits"], counts["accepted"]) == (20, 20)
    assert counts["receipts"] == 20 and report.receipts_by_state == {"DELIVERED": 20}  # #7's two messages have one each
    assert counts["callbacks"] == 19  # the first per id (#7 is called back twice)
    assert any("drain" in note for note in report.notes)
    assert report.latency["request_to_callback"]["count"] == 19


def test_smpp_target_against_a_running_simulator_watched_through_its_control_api(tmp_path: Path) -> None:
    from simulator.clock import RealClock
    from simulator.config import Account, ServerConfig
    from simulator.control import ControlApi
    from simulator.harness.runner import ThreadedServer

    config = ServerConfig(network="open", accounts=[Account("a", "b")])
    with ThreadedServer(config, clock=RealClock()) as threaded:
        assert threaded.server is not None
        api = ControlApi(threaded.server)
        _, port = threaded.call(api.start("127.0.0.1", 0))
        try:
            out = tmp_path / "r.json"
            result = _load("--rate", "100", "--count", "30", "--smsc", f"127.0.0.1:{threaded.port}", "--control", f"http://127.0.0.1:{port}",
                           "--system-id", "a", "--password", "b", "--from", "12345", "--no-receipts", "--drain", "2",
                           "--json", str(out), "--expect-lost", "0")
        finally:
            threaded.call(api.stop())
    assert result.exit_code == 0, result.output
    counts = json.loads(out.read_text())["counts"]
    assert (counts["requested"], counts["submits"], counts["accepted"], counts["lost"]) == (30, 30, 30, 0)
