"""pytest fixtures for driving a real Kannel against the `smsc` simulator: `webhook`, `kannel`, `kannel_factory`.

`kannel` is a started KannelGateway bound to the test's `smsc` with its first account, its MO get-url
pointing at the test's `webhook` (path /mo), and sendsms's default sender the account's default
sender. Options come from `@pytest.mark.kannel(throughput=5, sms_resend_freq=1, ...)` (KannelConfig
fields, plus dlr_mask/dlr_url sendsms defaults). Kannel is always stopped at teardown.

Without Kannel installed these fixtures skip, printing why, unless the CI environment variable is
set: then they fail, because CI must run the gateway tests.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Callable, Iterator

import pytest

from .kannel import BEARERBOX, Kannel, KannelGateway, mo_url
from .smsc import SimulatedSmsc
from .webhook import WebhookReceiver

KANNEL_MARKER_HELP = (
    "kannel(**options): options of the `kannel` fixture's gateway: KannelConfig fields (throughput, "
    "sms_resend_freq, sms_resend_retry, reconnect_delay, wait_ack, http_request_retry, ...) and the "
    "sendsms defaults dlr_mask, dlr_url"
)


def pytest_configure(config: pytest.Config) -> None:
    """Register the kannel marker (when this module is loaded as a plugin)."""
    config.addinivalue_line("markers", KANNEL_MARKER_HELP)


def require_kannel() -> None:
    """Skip when Kannel is not installed and CI is unset (printing why); fail when CI is set."""
    if Kannel.available():
        return
    reason = f"Kannel is not installed ({BEARERBOX} missing; apt-get install kannel)"
    if os.environ.get("CI"):
        pytest.fail(f"{reason}, and CI is set: the gateway tests must run in CI", pytrace=False)
    print(f"SKIP: {reason}")  # shown with -rs/-ra and -s; the skip reason says it too
    pytest.skip(reason)


def marker_options(node: pytest.Item) -> dict[str, Any]:
    """The kannel markers' options, the closest (function) marker last so it wins."""
    options: dict[str, Any] = {}
    for marker in reversed(list(node.iter_markers("kannel"))):
        if marker.args:
            raise pytest.UsageError(f"{node.nodeid}: @pytest.mark.kannel takes keyword arguments only")
        options.update(marker.kwargs)
    return options


class KannelFactory:
    """Starts Kannel gateways for one test and stops them all at its end."""

    def __init__(self, request: pytest.FixtureRequest, run_root: Path, webhook: WebhookReceiver, smsc: SimulatedSmsc) -> None:
        self._request = request
        self._smsc = smsc
        self._run_root = run_root
        self._webhook = webhook
        self.made: list[KannelGateway] = []

    def __call__(self, smsc: SimulatedSmsc | None = None, *, system_id: str | None = None, **options: Any) -> KannelGateway:
        """A started gateway bound to `smsc` (default: the test's `smsc` fixture); marker options, then these."""
        require_kannel()
        simulator = smsc if smsc is not None else self._smsc
        resolved = {**marker_options(self._request.node), **options}
        account = simulator.config.account(system_id) if system_id else simulator.account
        if account is None:
            raise ValueError(f"the simulator has no account {system_id!r}")
        resolved.setdefault("mo_url", mo_url(self._webhook.url("/mo")))
        if account.default_sender:
            resolved.setdefault("default_sender", account.default_sender)
        gateway = KannelGateway(
            simulator.host,
            simulator.port,
            account.system_id,
            account.password,
            self._run_root / f"kannel{len(self.made) + 1}",
            **resolved,
        )
        self.made.append(gateway)  # before start(): teardown stops it even if start fails halfway
        return gateway.start()

    def stop_all(self) -> None:
        """Stop every gateway (graceful unbind first), the last started first."""
        while self.made:
            self.made.pop().stop()


@pytest.fixture
def webhook() -> Iterator[WebhookReceiver]:
    """A WebhookReceiver on 127.0.0.1 (ephemeral port) recording the gateway's callbacks for this test."""
    with WebhookReceiver() as receiver:
        yield receiver


@pytest.fixture
def kannel_factory(
    request: pytest.FixtureRequest, tmp_path: Path, webhook: WebhookReceiver, smsc_factory: Any, smsc: SimulatedSmsc
) -> Iterator[Callable[..., KannelGateway]]:
    """Start Kannel gateways in one test: `kannel_factory(smsc=other, throughput=5)`; all stopped at teardown."""
    # The simulators are requested here so that they are set up before, and torn down after, the
    # gateways bound to them: Kannel unbinds before the simulator's teardown check runs.
    factory = KannelFactory(request, tmp_path, webhook, smsc)
    try:
        yield factory
    finally:
        factory.stop_all()


@pytest.fixture
def kannel(kannel_factory: KannelFactory) -> KannelGateway:
    """A started Kannel bound to `smsc`, MO get-url at `webhook` /mo; configured by @pytest.mark.kannel(...)."""
    return kannel_factory()


__all__ = ["KANNEL_MARKER_HELP", "KannelFactory", "kannel", "kannel_factory", "marker_options", "require_kannel", "webhook"]
