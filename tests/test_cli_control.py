"""The CLI's control-API side: `smsc-sim serve --http-port/--clock` and `smsc-sim readyz`."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from typing import Any

import pytest
from click.testing import CliRunner

from simulator.cli import main
from simulator.config import Account, ServerConfig
from simulator.control import ControlApi
from simulator.harness.esme import SyncEsme
from simulator.harness.runner import ThreadedServer, free_port


def _http(method: str, url: str, body: Any = None) -> tuple[int, Any]:
    data = None if body is None else json.dumps(body).encode()
    request = urllib.request.Request(url, data=data, method=method)
    with urllib.request.urlopen(request, timeout=5) as response:
        return response.status, json.loads(response.read())


def test_serve_with_control_api_and_readyz_wait() -> None:
    smpp_port, http_port = free_port(), free_port()
    # --http-port on the command line, the clock through its environment twin.
    env = dict(os.environ, SMSC_SIM_CLOCK="virtual")
    command = [sys.executable, "-m", "simulator.cli"]
    proc = subprocess.Popen([*command, "serve", "--port", str(smpp_port), "--http-port", str(http_port)], env=env, stderr=subprocess.PIPE)
    base = f"http://127.0.0.1:{http_port}"
    try:
        ready = subprocess.run([*command, "readyz", "--url", base, "--wait", "--timeout", "20"], capture_output=True, timeout=30)
        assert ready.returncode == 0, ready.stderr.decode()
        assert b'"ready": true' in ready.stdout
        assert _http("GET", f"{base}/clock")[1]["kind"] == "virtual"
        with SyncEsme("127.0.0.1", smpp_port) as esme:
            esme.bind("transceiver", "smppclient1", "password")
            esme.submit_sm(source_addr_ton=5, source_addr="SIMULATOR", dest_addr_ton=1, destination_addr="33612345678", short_message=b"hi")
            assert _http("POST", f"{base}/clock/advance", {"by": "5s"})[0] == 200
            (message,) = _http("GET", f"{base}/messages")[1]["messages"]
            assert message["state"] == "DELIVERED" and message["text"] == "hi"
            proc.send_signal(signal.SIGTERM)
            assert proc.wait(timeout=10) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(timeout=5)
    log = proc.stderr.read().decode() if proc.stderr else ""
    assert f"control API listening on http://127.0.0.1:{http_port}" in log and "control API stopped" in log


def test_readyz_against_a_live_and_a_stopped_simulator() -> None:
    with ThreadedServer(ServerConfig(network="open", accounts=[Account("a", "b")])) as threaded:
        assert threaded.server is not None
        api = ControlApi(threaded.server)
        _, port = threaded.call(api.start("127.0.0.1", 0))
        try:
            result = CliRunner().invoke(main, ["readyz", "--url", f"http://127.0.0.1:{port}/"])
            assert result.exit_code == 0 and "ready" in result.output
            threaded.call(threaded.server.stop(grace=0))
            started = time.monotonic()
            result = CliRunner().invoke(main, ["readyz", "--url", f"http://127.0.0.1:{port}", "--wait", "--timeout", "0.5"])
            assert result.exit_code == 1 and "HTTP 503" in result.output
            assert time.monotonic() - started < 5
        finally:
            threaded.call(api.stop())


def test_readyz_with_nothing_listening_exits_1_within_the_timeout() -> None:
    url = f"http://127.0.0.1:{free_port()}"
    assert CliRunner().invoke(main, ["readyz", "--url", url]).exit_code == 1
    started = time.monotonic()
    result = CliRunner().invoke(main, ["readyz", "--url", url, "--wait", "--timeout", "0.6"])
    assert result.exit_code == 1 and "not ready" in result.output
    assert 0.5 <= time.monotonic() - started < 5


@pytest.mark.parametrize(
    "args",
    [
        ["readyz", "--url", "ftp://127.0.0.1:1"],
        ["readyz", "--url", "127.0.0.1:8775"],
        ["readyz", "--timeout", "-1"],
        ["serve", "--clock", "sundial"],
        ["serve", "--clock", "scaled:0"],
        ["serve", "--clock", "scaled:fast"],
        ["serve", "--http-port", "70000"],
    ],
)
def test_usage_errors_exit_2(args: list[str]) -> None:
    result = CliRunner().invoke(main, args)
    assert result.exit_code == 2, result.output


def test_clock_environment_twin_is_validated() -> None:
    result = CliRunner().invoke(main, ["serve"], env={"SMSC_SIM_CLOCK": "sundial"})
    assert result.exit_code == 2 and "sundial" in result.output


def test_serve_reports_a_busy_http_port() -> None:
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        result = CliRunner().invoke(main, ["serve", "--port", "0", "--http-port", str(port)])
    assert result.exit_code == 1 and "cannot listen" in result.output and str(port) in result.output


def test_reset_gives_a_running_simulator_a_config_file_with_its_network_file(tmp_path: Any) -> None:
    (tmp_path / "profiles").mkdir()
    (tmp_path / "profiles" / "tiny.yaml").write_text("name: tiny\ncoverage: [FR]\noperators: [{name: Orange, country: FR}]\n")
    config = tmp_path / "server.yaml"
    config.write_text("network: profiles/tiny.yaml\nseed: 3\naccounts:\n  - {system_id: shop, password: pw}\n")
    broken = tmp_path / "broken.yaml"
    broken.write_text("accounts:\n  - {system_id: shop, password: pw, window: 0}\n")
    with ThreadedServer(ServerConfig(network="open", accounts=[Account("a", "b")])) as threaded:
        assert threaded.server is not None
        api = ControlApi(threaded.server)
        _, port = threaded.call(api.start("127.0.0.1", 0))
        url = f"http://127.0.0.1:{port}"
        try:
            with SyncEsme(threaded.host, threaded.port) as esme:
                esme.bind("transceiver", "a", "b")
                result = CliRunner().invoke(main, ["reset", "--url", url, "--config", str(config)])
                assert result.exit_code == 0 and "1 session(s) closed" in result.output, result.output
            server = threaded.server
            assert (server.profile.name, server.seed, [a.system_id for a in server.config.accounts]) == ("tiny", 3, ["shop"])
            result = CliRunner().invoke(main, ["reset", "--url", url, "--config", str(broken)])
            assert result.exit_code == 1 and f"{broken}:2: accounts[0].window: must be at least 1" in result.output
            silent = tmp_path / "silent.yaml"
            silent.write_text("smsc: {pdu_log: 0}\n")  # valid, but the running simulator cannot switch its PDU log off
            result = CliRunner().invoke(main, ["reset", "--url", url, "--config", str(silent)])
            assert result.exit_code == 1 and "refused: HTTP 400: smsc.pdu_log: the PDU log cannot be switched off" in result.output
            assert CliRunner().invoke(main, ["reset", "--url", url]).output.strip() == "reset"
            assert server.profile.name == "tiny"  # a plain reset keeps the configuration
        finally:
            threaded.call(api.stop())
    result = CliRunner().invoke(main, ["reset", "--url", url])
    assert result.exit_code == 1 and "cannot reach" in result.output
