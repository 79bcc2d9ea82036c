"""SMPP 5.0 congestion_state: the SMSC reports its load on submission responses when smsc.report_congestion is on."""

from __future__ import annotations

from typing import Any

import pytest
import smpplib.client
import smpplib.consts
import smpplib.smpp

from simulator.config import Account, ConfigError, ServerConfig, SmscSettings, parse_config
from simulator.harness.smsc import SimulatedSmsc
from simulator.network.throttles import SlidingWindow, TokenBucket
from simulator.smpp import pdu as P
from simulator.smpp.constants import CommandStatus as S

DEST = "33612345678"
TEXT: dict[str, Any] = {"source_addr": "SHOP", "destination_addr": DEST, "short_message": b"hi"}


def throttled(rate: int = 5, **smsc: Any) -> ServerConfig:
    """Account 'shop' on the open network, `rate` submits per second (burst as many), congestion reported."""
    config = parse_config(
        f"""
network: open
smsc:
  report_congestion: true
accounts:
  - {{system_id: shop, password: pw, throttles: [{{rate: {rate}, burst: {rate}}}]}}
""",
        "server.yaml",
    )
    for name, value in smsc.items():
        setattr(config.smsc, name, value)
    return config


def test_limiters_say_how_full_they_are() -> None:
    bucket = TokenBucket(rate=5, burst=5, now=0.0)
    assert bucket.fill(0.0) == 0.0
    for _ in range(4):
        assert bucket.take(0.0)
    assert bucket.fill(0.0) == pytest.approx(0.8)
    assert bucket.fill(0.4) == pytest.approx(0.4)  # two tokens back after 0.4 s at 5/s
    window = SlidingWindow(limit=4, period=1.0)
    window.take(0.0)
    window.take(0.5)
    assert window.fill(0.6) == 0.5 and window.fill(1.0) == 0.25 and window.fill(1.5) == 0.0


def test_a_v5_bind_sees_the_throttle_fill_up_then_congestion_then_recovery() -> None:
    with SimulatedSmsc(throttled()) as smsc:
        esme = smsc.esme(system_id="shop", password="pw", interface_version=0x50)
        responses = [esme.submit_sm(check=False, **TEXT) for _ in range(6)]
        assert [r.tlv("congestion_state") for r in responses] == [20, 40, 60, 80, 100, 100]
        assert [r.command_status for r in responses] == [S.ESME_ROK] * 5 + [S.ESME_RTHROTTLED]
        assert responses[4].message_id  # congested, yet accepted: 100 says the next one will not be
        smsc.clock.advance("0.6s")  # three tokens back
        assert esme.submit_sm(**TEXT).tlv("congestion_state") == 60
        smsc.clock.advance("10s")
        assert esme.submit_sm(**TEXT).tlv("congestion_state") == 20


def test_data_sm_and_submit_multi_responses_carry_it_too() -> None:
    with SimulatedSmsc(throttled(rate=10)) as smsc:
        esme = smsc.esme(system_id="shop", password="pw", interface_version=0x50)
        data = esme.request(P.DataSm(source_addr="SHOP", destination_addr=DEST))
        multi = esme.request(P.SubmitMulti(source_addr="SHOP", dest_addresses=(P.SmeAddress(1, 1, DEST),), short_message=b"hi"))
        assert (data.tlv("congestion_state"), multi.tlv("congestion_state")) == (10, 20)
        assert esme.request(P.EnquireLink()).tlv("congestion_state") is None  # flow control is about submissions


def test_an_unthrottled_idle_account_reports_idle_and_a_full_delivery_queue_reports_congestion() -> None:
    config = ServerConfig(
        smsc=SmscSettings(report_congestion=True, delivery_queue_limit=4),
        network="open",
        accounts=[Account(system_id="shop", password="pw")],
    )
    with SimulatedSmsc(config) as smsc:
        sender = smsc.esme(bind="transmitter", system_id="shop", password="pw", interface_version=0x50)
        assert sender.submit_sm(registered_delivery=1, **TEXT).tlv("congestion_state") == 0
        sender.submit_sm(registered_delivery=1, **TEXT)
        smsc.clock.advance("10s")  # two receipts wait: no receiver is bound
        assert sender.submit_sm(**TEXT).tlv("congestion_state") == 50


@pytest.mark.parametrize("bind_version, smsc_version, report", [(0x34, 0x50, True), (0x50, 0x34, True), (0x50, 0x50, False)])
def test_only_binds_that_negotiated_v5_get_it_and_only_when_switched_on(bind_version: int, smsc_version: int, report: bool) -> None:
    config = throttled(interface_version=smsc_version)
    config.smsc.report_congestion = report
    with SimulatedSmsc(config) as smsc:
        esme = smsc.esme(system_id="shop", password="pw", interface_version=bind_version)
        assert esme.submit_sm(**TEXT).tlv("congestion_state") is None


def test_a_fault_rule_value_wins_over_the_measured_load() -> None:
    with SimulatedSmsc(throttled()) as smsc:
        smsc.faults.add("submit_sm", do={"fields": {"congestion_state": 95}})
        esme = smsc.esme(system_id="shop", password="pw", interface_version=0x50)
        assert esme.submit_sm(**TEXT).tlv("congestion_state") == 95


def test_report_congestion_must_be_a_boolean() -> None:
    with pytest.raises(ConfigError) as raised:
        parse_config("smsc:\n  report_congestion: lots\n", "server.yaml")
    assert "server.yaml:2" in str(raised.value) and "report_congestion" in str(raised.value)


def test_smpplib_bound_as_v5_reads_every_response_and_the_log_shows_the_load() -> None:
    """smpplib does not know congestion_state: with allow_unknown_opt_params it skips the TLV and reads the rest."""
    with SimulatedSmsc(throttled()) as smsc:
        client = smpplib.client.Client(smsc.host, smsc.port, allow_unknown_opt_params=True)
        client.connect()
        try:
            # smpplib's bind methods always say 0x34: set the version on the PDU and take the state by hand.
            bind = smpplib.smpp.make_pdu("bind_transceiver", client=client, system_id="shop", password="pw")
            bind.interface_version = 0x50
            client.send_pdu(bind)
            bound = client.read_pdu()
            assert (bound.command, bound.status, bound.sc_interface_version) == ("bind_transceiver_resp", 0, 0x50)
            client.state = smpplib.consts.SMPP_CLIENT_STATE_BOUND_TRX
            statuses = []
            for _ in range(6):
                client.send_pdu(smpplib.smpp.make_pdu("submit_sm", client=client, source_addr="SHOP", destination_addr=DEST, short_message=b"hi"))
                resp = client.read_pdu()
                assert resp.command == "submit_sm_resp"
                statuses.append(resp.status)
            assert statuses == [0] * 5 + [S.ESME_RTHROTTLED]
        finally:
            client.disconnect()
        logged = smsc.pdus("submit_sm_resp", direction="out")
        assert [p.pdu.tlv("congestion_state") for p in logged] == [20, 40, 60, 80, 100, 100]
