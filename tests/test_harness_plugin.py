"""The pytest plugin as a gateway team meets it: installed by the pytest11 entry point, in a project of its own."""

from __future__ import annotations

import pytest

pytest_plugins = ["pytester"]

GATEWAY_TEST = '''
import pytest
from simulator.harness.esme import SyncEsme


def send_through_gateway(host, port, system_id, password, to, text):
    """Stands for the gateway under test: binds and submits like a real one would."""
    client = SyncEsme(host, port)
    try:
        client.bind("transmitter", system_id, password)
        return client.submit_sm(source_addr="SIMULATOR", destination_addr=to, short_message=text.encode())
    finally:
        client.close()


def test_gateway_sends_and_gets_a_receipt(smsc):
    reply = send_through_gateway(smsc.host, smsc.port, smsc.system_id, smsc.password, "+33612345678", "Hi")
    smsc.wait_for("submit_sm", destination_addr="+33612345678", text="Hi")
    smsc.clock.advance("48h")
    assert smsc.message(reply.message_id).state.name == "DELIVERED"


@pytest.mark.smsc(network="open", seed=5)
def test_marker(smsc, esme):
    assert smsc.seed == 5
    esme.enquire_link()
'''


def test_fixtures_come_from_the_entry_point_without_imports(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(test_gateway=GATEWAY_TEST)
    result = pytester.runpytest_subprocess("-p", "no:cacheprovider", "--strict-markers")
    result.assert_outcomes(passed=2)


def test_unmet_expectation_fails_the_test_at_teardown_with_a_readable_report(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(
        test_unmet='''
def test_forgot_to_send(smsc):
    smsc.expect("submit_sm", destination_addr="+33612345678", name="the promo")
'''
    )
    result = pytester.runpytest_subprocess("-p", "no:cacheprovider")
    result.assert_outcomes(passed=1, errors=1)
    result.stdout.fnmatch_lines(
        [
            "*simulator smsc1 at 127.0.0.1:*",
            "*- expectation never met: rule * the promo: submit_sm where destination_addr '+33612345678' -> normal reply (fired 0/1)*",
            "*seed 0; no PDUs exchanged*",
        ]
    )
    assert "Traceback" not in result.stdout.str()


def test_a_failed_test_is_not_reported_twice(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(
        test_fails='''
def test_fails(smsc):
    smsc.expect("submit_sm")
    assert False, "the gateway's own assertion"
'''
    )
    result = pytester.runpytest_subprocess("-p", "no:cacheprovider")
    result.assert_outcomes(failed=1)


def test_unknown_marker_option_is_a_usage_error(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(
        test_bad='''
import pytest

@pytest.mark.smsc(netwrk="open")
def test_typo(smsc):
    pass
'''
    )
    result = pytester.runpytest_subprocess("-p", "no:cacheprovider")
    assert "unknown smsc option(s) ['netwrk']" in result.stdout.str()
    assert result.ret != 0


def test_safe_under_xdist(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(
        test_many="\n".join(
            f'''
def test_{i}(smsc, esme):
    esme.submit_sm(source_addr="SIMULATOR", destination_addr="+3361234567{i}", short_message=b"m")
    smsc.wait_for("submit_sm", destination_addr="+3361234567{i}")
    assert len(smsc.messages()) == 1
'''
            for i in range(6)
        )
    )
    result = pytester.runpytest_subprocess("-p", "no:cacheprovider", "-p", "xdist", "-n", "2")
    result.assert_outcomes(passed=6)
