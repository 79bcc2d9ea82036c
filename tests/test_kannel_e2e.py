"""Kannel end to end: HTTP sendsms -> Kannel -> SMPP -> the simulator -> receipts and MOs -> Kannel -> our webhook.

Each test gets a fresh simulator (`smsc`), a WebhookReceiver (`webhook`) and a real Kannel bound to
the simulator (`kannel`, options from @pytest.mark.kannel). Everything waits on conditions with
deadlines. Kannel's behaviour these tests pin down is described in each test's docstring.
"""

from __future__ import annotations

import json
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest
from click.testing import CliRunner

from simulator.clock import VirtualClock
from simulator.harness import kannel_fixtures
from simulator.harness.kannel import (
    Kannel,
    KannelConfig,
    KannelGateway,
    describe_duplicates,
    dlr_url,
    duplicate_submits,
    free_port,
    kannel_config_command,
)
from simulator.harness.smsc import SimulatedSmsc
from simulator.harness.webhook import WebhookReceiver, WebhookRequest
from simulator.matching import Contains, Regex
from simulator.smpp.constants import MessageState

FR_MOBILE = "+33612345678"  # a French (SFR) mobile; Kannel sends it as TON 1 without the '+'
ON_THE_WIRE = FR_MOBILE.lstrip("+")
SHOP = {
    "system_id": "shop",
    "password": "pw",
    "country": "FR",
    "credits": 1000,
    "numbers": ["38100", "31244", "51244"],
    "senders": [{"name": "SHOP"}],
    "default_sender": "SHOP",
}


def send_with_receipts(gateway: KannelGateway, hook: WebhookReceiver, ref: str, text: str, **extra: object):  # noqa: ANN201
    """sendsms asking for every callback type (dlr-mask 31) to the webhook's /dlr, tagged id=ref."""
    reply = gateway.sendsms(FR_MOBILE, text, dlr_mask=31, dlr_url=dlr_url(hook.url("/dlr"), id=ref), **extra)
    assert reply.accepted, reply
    return reply


def send_and_wait_ack(gateway: KannelGateway, hook: WebhookReceiver, ref: str, text: str, **extra: object) -> WebhookRequest:
    """send_with_receipts, then Kannel's type-8 callback (the SMSC accepted it; fid is the message id)."""
    send_with_receipts(gateway, hook, ref, text, **extra)
    return hook.wait_for("/dlr", id=ref, type="8")


# --- the webhook receiver on its own (no Kannel) ---------------------------------------------------


def _http(url: str, data: bytes | None = None, content_type: str = "") -> tuple[int, str]:
    request = urllib.request.Request(url, data=data, headers={"Content-Type": content_type} if content_type else {})
    try:
        with urllib.request.urlopen(request, timeout=5) as response:
            return response.status, response.read().decode()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read().decode()


def test_webhook_records_query_form_and_json_and_claims_each_request_once(webhook: WebhookReceiver) -> None:
    assert _http(webhook.url("/dlr?id=m1&type=1&type=2")) == (200, "OK")
    _http(webhook.url("/form?x=1"), b"text=h%C3%A9llo&x=2", "application/x-www-form-urlencoded")
    _http(webhook.url("/json"), json.dumps({"event": "mo", "n": 3}).encode(), "application/json")
    first = webhook.wait_for("/dlr", type="1")
    assert (first.method, first.query, first.index) == ("GET", {"id": "m1", "type": "1"}, 0)
    form = webhook.wait_for("/form", method="POST", text="héllo")
    assert form.params == {"x": "2", "text": "héllo"} and form.query == {"x": "1"}  # the body wins
    assert webhook.wait_for(Regex("^/js"), event="mo", n=3).json == {"event": "mo", "n": 3}
    with pytest.raises(AssertionError) as failure:
        webhook.wait_for("/dlr", timeout=0.05)  # the only /dlr request was already returned
    assert "no '/dlr' within 0.05 s" in str(failure.value) and "(already returned)" in str(failure.value)
    webhook.assert_none("/dlr")


def test_webhook_timeout_report_lists_nearest_requests_and_mismatches(webhook: WebhookReceiver) -> None:
    _http(webhook.url("/dlr?id=m1&type=8"))
    with pytest.raises(AssertionError) as failure:
        webhook.wait_for("/dlr", id="m1", type="1", timeout=0.05)
    report = str(failure.value)
    assert "no '/dlr' with id 'm1', type '1' within 0.05 s" in report
    assert "nearest requests:" in report and "type: expected '1', got '8'" in report
    with pytest.raises(AssertionError, match="expected no '/dlr' with type '8'"):
        webhook.assert_none("/dlr", type="8")


def test_webhook_set_reply_and_assert_none_within(webhook: WebhookReceiver) -> None:
    webhook.set_reply(500, "boom")
    assert _http(webhook.url("/cb")) == (500, "boom")
    webhook.wait_for("/cb")
    started = time.monotonic()
    webhook.assert_none("/cb", within=0.1)
    assert time.monotonic() - started >= 0.09


def test_dlr_url_keeps_kannel_escapes_and_doubles_percent_in_fixed_values() -> None:
    url = dlr_url("http://127.0.0.1:1/dlr", id="a b/é")
    assert url == "http://127.0.0.1:1/dlr?id=a+b%%2F%%C3%%A9&type=%d&status=%A&smsc=%i&fid=%F&to=%p&from=%P&ts=%T"


def test_without_kannel_the_fixtures_skip_outside_ci_and_fail_in_ci(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(Kannel, "available", staticmethod(lambda: False))
    monkeypatch.delenv("CI", raising=False)
    with pytest.raises(pytest.skip.Exception, match="Kannel is not installed"):
        kannel_fixtures.require_kannel()
    monkeypatch.setenv("CI", "true")
    with pytest.raises(pytest.fail.Exception, match="CI is set"):
        kannel_fixtures.require_kannel()


# --- MT: sendsms and delivery receipts ---------------------------------------------------------------


def test_delivered_receipt_reaches_the_dlr_url_with_our_message_id(smsc: SimulatedSmsc, kannel: KannelGateway, webhook: WebhookReceiver) -> None:
    """dlr-mask 31 asks for receipts (registered_delivery 0x11); type 8 is the SMSC ACK, type 1 DELIVRD; %F is our id."""
    ack = send_and_wait_ack(kannel, webhook, "m 1/é", "Hello DLR")  # the id survived Kannel's %-escapes
    submit = smsc.wait_for("submit_sm", destination_addr=ON_THE_WIRE, text="Hello DLR", source_addr="SIMULATOR")
    assert submit.registered_delivery == 0x11
    accepted = smsc.wait_for("submit_sm_resp", sequence_number=submit.sequence_number, status="ESME_ROK")
    assert ack.params["fid"] == accepted.message_id and ack.params["status"] == "ACK/"
    smsc.clock.advance("5s")  # default plan: DELIVERED 2 s after acceptance
    final = webhook.wait_for("/dlr", id="m 1/é", type="1", fid=accepted.message_id, status=Contains("stat:DELIVRD"))
    assert final.params["to"] == FR_MOBILE and final.params["smsc"] == "smsc1"  # %p: the sendsms `to`
    assert smsc.message(accepted.message_id).state is MessageState.DELIVERED


def test_undeliverable_is_a_type_2_callback_with_the_error(smsc: SimulatedSmsc, kannel: KannelGateway, webhook: WebhookReceiver) -> None:
    """An unknown subscriber: UNDELIVERABLE with err 1; Kannel maps stat:UNDELIV to type 2 (failed)."""
    smsc.set_handset(FR_MOBILE, "unknown_subscriber")
    ack = send_and_wait_ack(kannel, webhook, "m2", "to nobody")
    smsc.clock.advance("5s")
    webhook.wait_for("/dlr", id="m2", type="2", fid=ack.params["fid"], status=Regex(r"stat:UNDELIV err:001"))
    assert smsc.message(ack.params["fid"]).state is MessageState.UNDELIVERABLE
    webhook.assert_none("/dlr", id="m2", type="1")


def test_expired_after_kannels_validity_period(smsc_factory, kannel_factory, webhook: WebhookReceiver) -> None:  # noqa: F811
    """sendsms validity=10 (minutes) becomes an absolute validity_period from Kannel's real clock, so the
    simulator's virtual clock starts at real time here; a handset that stays off EXPIRES at the end.

    Kannel reports it as type 34 (failed 2 | 0x20) because the receipt's message_state TLV says EXPIRED;
    a text-only receipt (receipt_dialect text_only) gives plain type 2."""
    smsc = smsc_factory(clock=VirtualClock(start=time.time()))
    gateway = kannel_factory(smsc)
    smsc.set_handset(FR_MOBILE, "off")
    fid = send_and_wait_ack(gateway, webhook, "m3", "expire me", validity=10).params["fid"]
    assert smsc.wait_for("submit_sm", text="expire me").validity_period  # absolute, e.g. '261122023500000+'
    smsc.clock.advance("9m")
    webhook.assert_none("/dlr", id="m3", type=Regex("^(1|2|34)$"), within=0.2)
    smsc.clock.advance("2m")
    webhook.wait_for("/dlr", id="m3", type="34", fid=fid, status=Contains("stat:EXPIRED"))
    assert smsc.message(fid).state is MessageState.EXPIRED


def test_intermediate_enroute_then_delivered(smsc: SimulatedSmsc, kannel: KannelGateway, webhook: WebhookReceiver) -> None:
    """A full handset memory: ENROUTE (err 32) as an intermediate receipt -> type 4; memory freed -> type 1."""
    smsc.set_handset(FR_MOBILE, "memory_full")
    send_and_wait_ack(kannel, webhook, "m4", "wait for me")
    smsc.clock.advance("5s")
    webhook.wait_for("/dlr", id="m4", type="4", status=Contains("stat:ENROUTE"))
    webhook.assert_none("/dlr", id="m4", type="1")
    smsc.set_handset(FR_MOBILE, "on")
    smsc.clock.advance("5s")
    webhook.wait_for("/dlr", id="m4", type="1", status=Contains("stat:DELIVRD"))


def test_permanent_submit_error_is_a_type_16_nack(smsc: SimulatedSmsc, kannel: KannelGateway, webhook: WebhookReceiver) -> None:
    """ESME_RINVDSTADR is permanent for Kannel: a type-16 callback at once, never re-submitted."""
    smsc.expect("submit_sm", status="ESME_RINVDSTADR", text="refused")
    send_with_receipts(kannel, webhook, "m5", "refused")
    nack = webhook.wait_for("/dlr", id="m5", type="16")
    assert nack.params["status"] == "NACK/0x0000000b/Invalid Destination Address" and nack.params["fid"] == ""
    smsc.wait_for("submit_sm", text="refused")
    smsc.assert_no_pdu("submit_sm", text="refused", within=1.5)  # sms-resend-freq is 2: no retry came
    assert smsc.messages() == []


@pytest.mark.kannel(sms_resend_freq=1)
def test_throttled_submit_is_resent_after_sms_resend_freq(smsc: SimulatedSmsc, kannel: KannelGateway, webhook: WebhookReceiver) -> None:
    """ESME_RTHROTTLED is temporary: no callback; the same MT comes again after sms-resend-freq and is accepted."""
    smsc.expect("submit_sm", status="ESME_RTHROTTLED", text="retry me")
    send_with_receipts(kannel, webhook, "m6", "retry me")
    first = smsc.wait_for("submit_sm", text="retry me")
    smsc.wait_for("submit_sm_resp", status="ESME_RTHROTTLED")
    started = time.monotonic()
    second = smsc.wait_for("submit_sm", text="retry me", timeout=8)
    waited = time.monotonic() - started
    assert second.index > first.index and 0.5 < waited < 6
    accepted = smsc.wait_for("submit_sm_resp", sequence_number=second.sequence_number, status="ESME_ROK")
    webhook.wait_for("/dlr", id="m6", type="8", fid=accepted.message_id)
    webhook.assert_none("/dlr", id="m6", type="16")
    assert [m.message_id for m in smsc.messages()] == [accepted.message_id]  # accepted once, nothing lost


@pytest.mark.smsc(clock="real")
@pytest.mark.kannel(sms_resend_freq=1)
def test_network_throttle_refusals_are_retried_until_all_are_accepted(smsc: SimulatedSmsc, kannel: KannelGateway) -> None:
    """The default network allows 5 submits/s: of 8 at once the 6th is refused ESME_RTHROTTLED; Kannel then pauses
    the link for 1-2 s and re-sends the refused one after sms-resend-freq; none is lost, none is doubled."""
    texts = [f"burst {n}" for n in range(8)]
    for text in texts:
        assert kannel.sendsms(FR_MOBILE, text).accepted
    for _ in texts:
        smsc.wait_for("submit_sm_resp", status="ESME_ROK", timeout=10)
    refused = {(r.session, r.sequence_number) for r in smsc.pdus("submit_sm_resp", status="ESME_RTHROTTLED")}
    retried = [s.text for s in smsc.pdus("submit_sm") if (s.session, s.sequence_number) in refused]
    assert retried  # Kannel pauses the link 1-2 s after a refusal, so usually only the 6th is refused
    assert sorted(m.route.text for m in smsc.messages()) == sorted(texts)  # each accepted exactly once
    for text in retried:
        assert len(smsc.pdus("submit_sm", text=text)) >= 2  # refused, then the same text again


@pytest.mark.smsc(clock="real")
@pytest.mark.kannel(throughput=5)
def test_kannel_throughput_keeps_under_the_network_throttle(smsc: SimulatedSmsc, kannel: KannelGateway) -> None:
    """With throughput = 5 Kannel sends bursts of 5 a second apart: the simulator never has to refuse one."""
    for n in range(8):
        assert kannel.sendsms(FR_MOBILE, f"paced {n}").accepted
    first = smsc.wait_for("submit_sm", text="paced 0")
    last = smsc.wait_for("submit_sm", text="paced 7", timeout=10)
    assert last.at - first.at >= 0.9  # the sixth to eighth waited for the next second
    assert smsc.pdus("submit_sm_resp", status="ESME_RTHROTTLED") == []
    assert len(smsc.messages()) == 8


def test_long_mt_is_split_with_udh_and_reassembled_by_the_simulator(smsc: SimulatedSmsc, kannel: KannelGateway) -> None:
    """Kannel splits a 300-character text into 153-septet parts with a concatenation UDH (esm_class 0x40)."""
    text = " ".join(f"word{n:03d}" for n in range(38))[:300]
    assert kannel.sendsms(FR_MOBILE, text).accepted
    parts = [smsc.wait_for("submit_sm", destination_addr=ON_THE_WIRE) for _ in range(2)]
    assert all(part.esm_class & 0x40 for part in parts)
    whole = smsc.run(lambda: [m for m in smsc.server.network.reassembled])
    assert [m.text for m in whole] == [text]


# --- MO: handset -> simulator -> Kannel -> get-url -----------------------------------------------------


@pytest.mark.smsc(accounts=[SHOP])
@pytest.mark.parametrize(("number", "change"), [("31244", -5), ("51244", +6)], ids=["short-code", "premium"])
def test_mo_reaches_the_webhook_and_moves_credits(
    smsc: SimulatedSmsc, kannel: KannelGateway, webhook: WebhookReceiver, number: str, change: int
) -> None:
    """An MO to a short code costs its mo_price (5); one to a premium number earns its reward (6)."""
    before = smsc.balance()
    [response] = smsc.inject_mo(FR_MOBILE, number, "INFO & more")
    assert response.command_status == 0
    mo = webhook.wait_for("/mo", method="GET", to=number, text="INFO & more")
    assert mo.params["from"] == FR_MOBILE and mo.params["smsc"] == "smsc1"  # TON 1: Kannel adds the '+'
    assert smsc.balance() == before + change


def test_ucs2_mo_arrives_as_utf8(smsc: SimulatedSmsc, kannel: KannelGateway, webhook: WebhookReceiver) -> None:
    """The simulator sends Cyrillic as UCS-2 (data_coding 8); mo-recode makes Kannel call get-url with UTF-8."""
    smsc.inject_mo(FR_MOBILE, "31244", "Привет €")
    assert smsc.wait_for("deliver_sm", direction="out").data_coding == 8
    mo = webhook.wait_for("/mo", text="Привет €")
    assert (mo.params["charset"], mo.params["coding"]) == ("UTF-8", "0")


# --- the link drops ------------------------------------------------------------------------------------


def test_reconnect_delivers_what_queued_on_both_sides(smsc: SimulatedSmsc, kannel: KannelGateway, webhook: WebhookReceiver) -> None:
    """The simulator drops Kannel: sendsms answers '3: Queued'; an MO waits at the simulator (store and forward);
    Kannel rebinds after reconnect-delay and both go through."""
    smsc.wait_bound(smsc.system_id)
    assert smsc.disconnect() == 1
    assert kannel.wait_offline() in ("re-connecting", "connecting", "disconnected")
    assert kannel.sendsms(FR_MOBILE, "sent while down").queued
    smsc.inject_mo(FR_MOBILE, "31244", "MO while down", wait=False)
    kannel.wait_online(timeout=10)
    smsc.wait_for("submit_sm", text="sent while down", timeout=10)
    webhook.wait_for("/mo", text="MO while down")
    assert len(smsc.pdus("bind_transceiver")) == 2


def test_link_drop_before_submit_sm_resp_duplicates_the_message(
    smsc: SimulatedSmsc, kannel: KannelGateway, webhook: WebhookReceiver, record_property
) -> None:
    """The SMSC accepted the submit but the link dropped before Kannel got submit_sm_resp: Kannel re-sends it on
    the new bind (at least once), so the handset gets it twice; only the second id's receipt reaches the app."""
    smsc.expect("submit_sm", text="only once?", delay="20s")  # accepted now, answered too late
    send_with_receipts(kannel, webhook, "m7", "only once?")
    smsc.wait_for("submit_sm", text="only once?")
    smsc.disconnect()
    smsc.wait_for("submit_sm", text="only once?", timeout=10)  # re-sent after the rebind
    duplicates = duplicate_submits(smsc.pdus("submit_sm"))
    report = describe_duplicates(duplicates)
    print(report)  # shown with -rP; also in the JUnit XML as a property
    record_property("duplicates", report)
    assert list(duplicates) == [(ON_THE_WIRE, "only once?")]
    assert "1 message(s) submitted more than once" in report
    first, second = (m.message_id for m in smsc.messages(number=FR_MOBILE))
    ack = webhook.wait_for("/dlr", id="m7", type="8")
    assert ack.params["fid"] == second
    smsc.clock.advance("5s")  # both copies are DELIVERED: two receipts
    webhook.wait_for("/dlr", id="m7", type="1", fid=second)
    webhook.assert_none("/dlr", id="m7", type="1", within=0.3)  # Kannel never knew `first`: its DLR is dropped
    assert first != second


# --- smsc-sim kannel-config ------------------------------------------------------------------------------


def test_kannel_config_command_renders_a_config_that_kannel_runs(smsc: SimulatedSmsc, webhook: WebhookReceiver, tmp_path: Path) -> None:
    kannel_fixtures.require_kannel()
    ports = {"admin_port": free_port(), "smsbox_port": free_port(), "sendsms_port": free_port()}
    out = tmp_path / "kannel.conf"
    args = ["--smsc", smsc.address, "--system-id", smsc.system_id, "--password", smsc.password, "--mo-url", webhook.url("/mo")]
    args += ["--throughput", "5", "--sender", "38100", "--log-dir", str(tmp_path / "logs")]
    args += [arg for key, port in ports.items() for arg in (f"--{key.replace('_', '-')}", str(port))]
    result = CliRunner().invoke(kannel_config_command, [*args, "--out", str(out)])
    assert result.exit_code == 0, result.output
    text = out.read_text()
    assert f"port = {smsc.port}" in text and "throughput = 5" in text and "default-sender = 38100" in text
    assert "get-url = \"" + webhook.url("/mo") + "?from=%p&to=%P&text=%b" in text
    printed = CliRunner().invoke(kannel_config_command, args)
    assert printed.stdout == text
    config = KannelConfig(smsc_port=smsc.port, **ports)
    with Kannel(config, tmp_path / "logs", conf_file=out) as running:
        assert running.sendsms(FR_MOBILE, "via the generated config", sender=None).accepted
        smsc.wait_for("submit_sm", source_addr="38100", text="via the generated config")
        smsc.inject_mo(FR_MOBILE, "31244", "back")
        webhook.wait_for("/mo", text="back", to="31244")
