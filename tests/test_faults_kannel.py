"""Fault rules against a real Kannel: the README's example, run as written."""

from __future__ import annotations

import pytest

from simulator.harness.kannel import KannelGateway
from simulator.harness.smsc import SimulatedSmsc


@pytest.mark.kannel(sms_resend_freq=1)
def test_kannel_retries_a_temporary_error(smsc: SimulatedSmsc, kannel: KannelGateway) -> None:
    """The README's fault-injection example: Kannel re-sends a submit refused with ESME_RTHROTTLED."""
    rule = smsc.faults.add("submit_sm", nth=1, do={"status": "ESME_RTHROTTLED"})
    kannel.sendsms("+33612345678", "hello")
    smsc.wait_for("submit_sm_resp", status="ESME_RTHROTTLED")
    smsc.wait_for("submit_sm", text="hello")  # re-sent...
    smsc.wait_for("submit_sm_resp", status="ESME_ROK")  # ...and accepted
    assert [f.action for f in smsc.faults.fired(rule)] == ["status ESME_RTHROTTLED"]
