"""Server config validation (file, line and key in every error) and the smsc-sim CLI."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
from click.testing import CliRunner

from simulator.cli import main
from simulator.config import ConfigError, default_config, load_config, parse_config
from simulator.harness.runner import free_port
from simulator.harness.esme import SyncEsme


def test_default_config_is_the_documented_smppsim_account() -> None:
    config = default_config()
    (account,) = config.accounts
    assert (account.system_id, account.password) == ("smppclient1", "password")
    assert account.bind_types == ["transmitter", "receiver", "transceiver"]


def test_full_config_parses_into_typed_objects() -> None:
    config = parse_config(
        """
smsc:
  system_id: MYSMSC
  message_id_format: decimal
  auth_failure: bind_fail
  enquire_link_interval: null
accounts:
  - system_id: gw
    password: 12345
    bind_types: [transmitter, receiver]
    max_binds: 2
    window: 50
    outbind: {host: 127.0.0.1, port: 2776}
    distribution_lists:
      team: ["+447700900011", 447700900012]
seed: 7
"""
    )
    account = config.account("gw")
    assert account is not None and account.password == "12345" and account.window == 50
    assert account.distribution_lists == {"team": ["+447700900011", "447700900012"]}
    assert account.outbind is not None and account.outbind.port == 2776
    assert config.smsc.enquire_link_interval is None and config.seed == 7


@pytest.mark.parametrize(
    ("text", "line", "key", "words"),
    [
        ("accounts:\n  - system_id: a\n    pasword: x\n", 3, "accounts[0].pasword", "unknown key"),
        ("smsc:\n  message_id_format: base64\n", 2, "smsc.message_id_format", "must be one of"),
        ("accounts:\n  - password: x\n", 2, "accounts[0].system_id", "required"),
        ("accounts:\n  - system_id: a\n    password: b\n    window: lots\n", 4, "accounts[0].window", "expected int"),
        ("accounts:\n  - system_id: a\n    password: b\n    bind_types: [sender]\n", 4, "accounts[0].bind_types", "unknown bind type"),
        ("accounts:\n  - system_id: waytoolongsystemid\n    password: b\n", 2, "accounts[0].system_id", "1..15"),
        ("accounts:\n  - system_id: a\n    password: b\n  - system_id: a\n    password: c\n", 1, "(top level)", "duplicate"),
        ("smsc: [1, 2\n", 2, "", "invalid YAML"),
        ("accounts: {a: 1}\n", 1, "accounts", "expected a list"),
        ("smsc:\n  peer_window_full_status: ESME_RNOPE\n", 2, "smsc.peer_window_full_status", "unknown command_status"),
        ("seed: 1\nnetwork: atlantis\n", 2, "network", "neither a built-in profile"),
        ("accounts:\n  - {system_id: a, password: b, default_sender: X}\n", 2, "accounts[0].default_sender", "not one of"),
        ("accounts:\n  - {system_id: a, password: b, senders: [{name: SHOP, state: maybe}]}\n", 2, "accounts[0].senders[0].state", "must be one of"),
        ("accounts:\n  - system_id: a\n    password: b\n    distribution_lists:\n      team: [\"+4477\", \"4478x\"]\n", 5,
         "accounts[0].distribution_lists.team[1]", "not an international number"),
        ("accounts:\n  - system_id: a\n    password: b\n    distribution_lists:\n      team: []\n", 5,
         "accounts[0].distribution_lists.team", "at least one number"),
        ("accounts:\n  - system_id: a\n    password: b\n    distribution_lists:\n      twenty-one-characters: [\"4477\"]\n", 5,
         "accounts[0].distribution_lists.twenty-one-characters", "1..20 characters"),
        ("accounts:\n  - system_id: a\n    password: b\n    distribution_lists: [\"4477\"]\n", 4,
         "accounts[0].distribution_lists", "expected a mapping"),
    ],
)
def test_config_errors_name_file_line_and_key(text: str, line: int, key: str, words: str) -> None:
    with pytest.raises(ConfigError) as raised:
        parse_config(text, "net.yaml")
    error = raised.value
    assert (error.source, error.line, error.key) == ("net.yaml", line, key)
    assert words in str(error) and str(error).startswith(f"net.yaml:{line}:")


def test_missing_file_is_a_config_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="cannot read"):
        load_config(tmp_path / "absent.yaml")


def test_check_config_command(tmp_path: Path) -> None:
    good = tmp_path / "good.yaml"
    good.write_text("accounts:\n  - system_id: gw\n    password: pw\n")
    bad = tmp_path / "bad.yaml"
    bad.write_text("accounts:\n  - system_id: gw\n    pasword: pw\n")
    runner = CliRunner()
    ok = runner.invoke(main, ["check-config", str(good)])
    assert ok.exit_code == 0 and "1 account(s): gw" in ok.output
    failed = runner.invoke(main, ["check-config", str(bad)])
    assert failed.exit_code == 1 and "bad.yaml:3: accounts[0].pasword: unknown key" in failed.output


def _wait_for_port(port: int, proc: subprocess.Popen[bytes], deadline: float = 15.0) -> None:
    end = time.monotonic() + deadline
    while time.monotonic() < end:
        if proc.poll() is not None:
            raise AssertionError(f"serve exited early: {proc.stderr.read().decode() if proc.stderr else ''}")
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
            return
        except OSError:
            time.sleep(0.05)
    raise AssertionError("serve did not listen in time")


def test_serve_with_env_twins_binds_and_shuts_down_gracefully_on_sigterm() -> None:
    port = free_port()
    env = dict(os.environ, SMSC_SIM_PORT=str(port), SMSC_SIM_LOG_LEVEL="debug")
    proc = subprocess.Popen([sys.executable, "-m", "simulator.cli", "serve"], env=env, stderr=subprocess.PIPE)
    try:
        _wait_for_port(port, proc)
        esme = SyncEsme("127.0.0.1", port)
        esme.bind("transceiver", "smppclient1", "password")
        # The default network: an approved alphanumeric sender to a French mobile.
        response = esme.submit_sm(
            source_addr_ton=5, source_addr="SIMULATOR", dest_addr_ton=1, dest_addr_npi=1, destination_addr="33612345678", short_message="hi"
        )
        assert response.command_status == 0
        refused = esme.submit_sm(source_addr_ton=5, source_addr="UNKNOWN", dest_addr_ton=1, destination_addr="33612345678", check=False)
        assert refused.command_status == 0x0A  # ESME_RINVSRCADR: sender not approved
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=10) == 0
        assert esme.state.value in ("UNBOUND", "CLOSED")  # the server unbound us before leaving
        esme.close()
    finally:
        if proc.poll() is None:
            proc.kill()
    log = proc.stderr.read().decode() if proc.stderr else ""
    assert "bound transceiver as smppclient1" in log
    assert "SubmitSm(" in log  # debug level logs every PDU decoded
    assert "unbinding for shutdown" in log and "SMSC stopped" in log


def test_serve_rejects_a_bad_config_with_its_location(tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text("smsc:\n  message_id_format: nope\n")
    result = CliRunner().invoke(main, ["serve", "--config", str(bad), "--port", "0"])
    assert result.exit_code == 1 and "bad.yaml:2: smsc.message_id_format: must be one of" in result.output
