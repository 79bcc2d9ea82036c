"""`smsc-sim load`: drive a gateway's HTTP API or the SMSC over SMPP at a rate, and report what the SMSC saw.

Exit status: 0 when every --expect-* threshold holds, 1 when one is violated (each violation is
printed, naming the window or the ids), 2 on a usage error, 3 when the run could not be made (the
target or the control API unreachable, a bind refused).
"""

from __future__ import annotations

import asyncio
import sys
from dataclasses import replace
from pathlib import Path
from typing import Any

import click

from ..config import ConfigError, load_typed
from ..harness.scenario import HttpRequest
from ..harness.esme import SmppError
from ..harness.smsc import SimulatedSmsc, SmscError, resolve_config
from ..harness.webhook import WebhookReceiver
from .driver import Schedule
from .observe import ControlObserver, InProcessObserver, SmscCollector
from .report import LoadReport, RateLimit, Thresholds
from .run import Progress, RunOptions, id_pattern, run_load
from .targets import DEFAULT_TEXT, HttpTarget, SmppTarget

EXIT_VIOLATION = 1
EXIT_USAGE = 2
EXIT_RUN_FAILED = 3
GATEWAY_BIND_WAIT = 30.0  # seconds an HTTP run against an in-process simulator waits for the gateway to bind


def _rate_option(ctx: click.Context, param: click.Parameter, value: str | None) -> RateLimit | None:
    if value is None:
        return None
    try:
        return RateLimit.parse(value)
    except ValueError as exc:
        raise click.BadParameter(str(exc)) from None


def _pairs(values: tuple[str, ...], option: str) -> dict[str, str]:
    pairs = {}
    for item in values:
        name, sep, value = item.partition("=")
        if not sep or not name:
            raise click.BadParameter(f"{item!r}: use NAME=VALUE", param_hint=option)
        pairs[name] = value
    return pairs


def _host_port(value: str) -> tuple[str, int]:
    host, _, port = value.rpartition(":")
    if not host or not port.isdigit():
        raise click.BadParameter(f"{value!r}: use HOST:PORT", param_hint="--smsc")
    return host, int(port)


@click.command("load")
@click.option("--target", "kind", type=click.Choice(["smpp", "http"]), default="smpp", show_default=True, help="smpp: our own ESMEs submit; http: a gateway's send API is called.")
@click.option("--rate", type=click.FloatRange(min=0, min_open=True), required=True, help="Requests per second, all binds and workers together (open model).")
@click.option("--count", type=click.IntRange(min=1), help="Requests in all (default: rate x duration).")
@click.option("--duration", type=click.FloatRange(min=0, min_open=True), help="Seconds of sending (default: count / rate).")
@click.option("--concurrency", type=click.IntRange(min=1), default=100, show_default=True, help="Requests in flight at most; more are held back (and their delay shows).")
@click.option("--binds", type=click.IntRange(min=1), default=1, show_default=True, help="smpp: ESMEs bound, requests go round robin.")
@click.option("--window", type=click.IntRange(min=1), default=10, show_default=True, help="smpp: unanswered requests per bind.")
@click.option("--bind-mode", type=click.Choice(["transceiver", "transmitter"]), default="transceiver", show_default=True, help="smpp: a transmitter gets no receipts.")
@click.option("--system-id", default=None, help="smpp: account (default: the simulator's first account, or smppclient1).")
@click.option("--password", default=None, help="smpp: password (default: the account's, or 'password').")
@click.option("--to", "to", default="+33612345678", show_default=True, help="Destination number ({to}).")
@click.option("--from", "sender", default="SIMULATOR", show_default=True, help="smpp: source_addr (alphanumeric: TON 5).")
@click.option("--text", default=DEFAULT_TEXT, show_default=True, help="Message text; must contain {id}, the correlation id.")
@click.option("--receipts/--no-receipts", default=True, show_default=True, help="smpp: ask for receipts (registered_delivery 1) and wait for them within --drain.")
@click.option("--smsc", "smsc_address", default=None, help="HOST:PORT of a running simulator (needs --control); default: an in-process simulator.")
@click.option("--control", "control_url", default=None, help="Control API URL of the running simulator, polled (GET /pdus) to see its side.")
@click.option("--config", "config_path", type=click.Path(dir_okay=False, exists=True), default=None, help="In-process simulator: server config file.")
@click.option("--network", default=None, help="In-process simulator: network profile (default, open, or a file).")
@click.option("--smsc-port", type=click.IntRange(0, 65535), default=0, help="In-process simulator: SMPP port (for an HTTP gateway to bind to; 0: ephemeral).")
@click.option("--request", "request_file", type=click.Path(dir_okay=False, exists=True), default=None, help="http: YAML request template (url, method, query, form, json, headers, expect_status), as in scenarios.")
@click.option("--url", default=None, help="http: a GET URL template instead of --request, e.g. 'http://127.0.0.1:13013/cgi-bin/sendsms?to={to}&text={text}'.")
@click.option("--var", "variables", multiple=True, metavar="NAME=VALUE", help="http: more template variables.")
@click.option("--callback-param", default="id", show_default=True, help="http: the webhook parameter carrying the correlation id.")
@click.option("--callback-filter", multiple=True, metavar="NAME=REGEX", help="http: count only webhook calls whose NAME fullmatches REGEX (e.g. type=1).")
@click.option("--drain", type=click.FloatRange(min=0), default=5.0, show_default=True, help="Seconds to wait after the last request for submits, responses and receipts.")
@click.option("--response-timeout", type=click.FloatRange(min=0, min_open=True), default=10.0, show_default=True, help="Seconds a request may stay unanswered.")
@click.option("--max-time", type=click.FloatRange(min=0, min_open=True), default=None, help="Hard limit on the whole run in seconds (default: duration + response timeout + drain + 10).")
@click.option("--progress/--no-progress", default=None, help="Live progress line on stderr (default: when stderr is a terminal).")
@click.option("--json", "json_path", type=click.Path(dir_okay=False), default=None, help="Write the JSON report here.")
@click.option("--csv", "csv_path", type=click.Path(dir_okay=False), default=None, help="Write the per-second history here.")
@click.option("--chart", "chart_path", type=click.Path(dir_okay=False), default=None, help="Write a PNG chart here (needs matplotlib).")
@click.option("--throttle-line", type=click.FloatRange(min=0, min_open=True), default=None, help="Rate drawn as the throttle line (default: --expect-max-rate, else the in-process account's throttle).")
@click.option("--expect-max-rate", callback=_rate_option, default=None, metavar="COUNT/WINDOW", help="At most COUNT submit_sm at the SMSC in any sliding WINDOW (5/1s).")
@click.option("--expect-lost", type=click.IntRange(min=0), default=None, help="At most this many requests never reach the SMSC.")
@click.option("--expect-duplicates", type=click.IntRange(min=0), default=None, help="At most this many requests accepted more than once.")
@click.option("--expect-throttled", type=click.IntRange(min=0), default=None, help="At most this many submit_sm answered ESME_RTHROTTLED.")
@click.option("--expect-rejected", type=click.IntRange(min=0), default=None, help="At most this many submit_sm refused otherwise.")
@click.option("--run-id", default=None, help="Token in the correlation ids (default: random), e.g. to find a run in a simulator's log.")
def load_command(**options: Any) -> None:
    """Drive a target at a rate and report what the SMSC saw: rates, busiest window, losses, latencies, receipts."""
    o = options
    if o["count"] is None and o["duration"] is None:
        raise click.UsageError("give --count, --duration or both: a load run is bounded")
    count = o["count"] if o["count"] is not None else max(1, round(o["rate"] * o["duration"]))
    duration = o["duration"] if o["duration"] is not None else count / o["rate"]
    if "{id}" not in o["text"]:
        raise click.BadParameter("the text must contain {id}: it is how requests are matched to submit_sm", param_hint="--text")
    if o["smsc_address"] and not o["control_url"]:
        raise click.UsageError("--smsc needs --control: the load tester watches the SMSC side through its control API")
    if o["control_url"] and not o["smsc_address"] and o["kind"] == "smpp":
        raise click.UsageError("--control needs --smsc HOST:PORT for the smpp target")
    if o["smsc_address"] and (o["config_path"] or o["network"] or o["smsc_port"]):
        raise click.UsageError("--config, --network and --smsc-port configure the in-process simulator, not one given by --smsc")
    if o["kind"] == "http" and not (o["request_file"] or o["url"]):
        raise click.UsageError("the http target needs --request FILE or --url URL")
    if o["kind"] == "smpp" and (o["request_file"] or o["url"]):
        raise click.UsageError("--request and --url are for --target http")
    if o["chart_path"]:
        try:
            import matplotlib  # noqa: F401
        except ImportError:
            raise click.UsageError("--chart needs matplotlib: pip install 'smsc-sim[chart]' (or pip install matplotlib)") from None
    thresholds = Thresholds(o["expect_max_rate"], o["expect_lost"], o["expect_duplicates"], o["expect_throttled"], o["expect_rejected"])
    schedule = Schedule(o["rate"], count, duration, o["concurrency"], o["response_timeout"])
    try:
        report, throttle = _run(o, schedule)
    except (ConnectionError, OSError, TimeoutError, asyncio.TimeoutError, RuntimeError, SmppError, SmscError) as exc:
        click.echo(f"error: the load run could not be made: {exc or type(exc).__name__}", err=True)
        sys.exit(EXIT_RUN_FAILED)
    violations = report.check(thresholds)
    click.echo(report.table())
    _write_outputs(report, o, throttle or (thresholds.max_rate.count / thresholds.max_rate.window if thresholds.max_rate else None))
    if violations:
        for violation in violations:
            click.echo(f"load: threshold violated: {violation}", err=True)
        sys.exit(EXIT_VIOLATION)


def _write_outputs(report: LoadReport, o: dict[str, Any], throttle: float | None) -> None:
    if o["json_path"]:
        Path(o["json_path"]).write_text(report.to_json(), encoding="utf-8")
    if o["csv_path"]:
        Path(o["csv_path"]).write_text(report.to_csv(), encoding="utf-8")
    if o["chart_path"]:
        from .chart import write_chart

        write_chart(report, o["chart_path"], o["throttle_line"] or throttle)


def _template(o: dict[str, Any]) -> HttpRequest:
    if o["url"]:
        return HttpRequest(url=o["url"])
    text = Path(o["request_file"]).read_text(encoding="utf-8")
    try:
        return load_typed(text, HttpRequest, o["request_file"])
    except ConfigError as exc:
        raise click.BadParameter(str(exc), param_hint="--request") from None


def _run(o: dict[str, Any], schedule: Schedule) -> tuple[LoadReport, float | None]:
    """Set up the simulator (or reach the running one), the target and the observer; run; the report and throttle line."""
    options = RunOptions(
        drain=o["drain"],
        max_time=o["max_time"],
        expect_receipts=o["receipts"] and (o["kind"] == "http" or o["bind_mode"] != "transmitter"),
        window=o["expect_max_rate"].window if o["expect_max_rate"] else 1.0,
        settings={k: o[k] for k in ("kind", "rate", "binds", "window", "concurrency", "to", "text")} | {"count": schedule.count, "duration": schedule.duration},
    )
    if o["run_id"]:
        options.run_token = o["run_id"]
    if o["kind"] == "http":
        options.expect_receipts = bool(o["callback_filter"]) or o["receipts"]
    collector = SmscCollector(id_pattern(options.run_token))
    progress_on = o["progress"] if o["progress"] is not None else sys.stderr.isatty()
    progress = Progress(schedule.planned) if progress_on else None
    smsc: SimulatedSmsc | None = None
    throttle: float | None = None
    try:
        if o["smsc_address"]:
            host, port = _host_port(o["smsc_address"])
            observer: Any = ControlObserver(o["control_url"], collector)
            try:
                observer.check()
            except ValueError as exc:
                raise click.UsageError(str(exc)) from None
            system_id, password = o["system_id"] or "smppclient1", o["password"] or "password"
        else:
            smsc = _start_simulator(o)
            host, port = smsc.host, smsc.port
            observer = InProcessObserver(smsc, collector)
            system_id = o["system_id"] or smsc.system_id
            password = o["password"] if o["password"] is not None else smsc.password
            throttle = _configured_throttle(smsc, system_id)
            options.settings["simulator"] = smsc.address
        if o["kind"] == "smpp":
            fields = {
                "source_addr": o["sender"],
                "source_addr_ton": 5 if not o["sender"].lstrip("+").isdigit() else 1,
                "destination_addr": o["to"].lstrip("+"),
                "dest_addr_ton": 1,
                "dest_addr_npi": 1,
                "registered_delivery": 1 if o["receipts"] else 0,
            }
            target: Any = SmppTarget(
                host, port, system_id=system_id, password=password, binds=o["binds"], window=o["window"],
                mode=o["bind_mode"], text=o["text"], fields=fields, response_timeout=o["response_timeout"],
            )
        else:
            target = HttpTarget(
                _template(o), to=o["to"], text=o["text"], extra=_pairs(o["variables"], "--var"), concurrency=o["concurrency"],
                webhook=WebhookReceiver(), callback_param=o["callback_param"],
                callback_filter=_pairs(o["callback_filter"], "--callback-filter"),
            )
            if smsc is not None:
                click.echo(f"in-process simulator on {smsc.address} (system_id {smsc.system_id}); waiting for the gateway to bind", err=True)
                smsc.wait_bound(timeout=GATEWAY_BIND_WAIT)
        report = asyncio.run(run_load(target, observer, collector, schedule, options, progress))
    finally:
        if smsc is not None:
            smsc.stop()
    return report, throttle


def _start_simulator(o: dict[str, Any]) -> SimulatedSmsc:
    """An in-process simulator on the real clock, its first account widened to the run's binds and window."""
    config = resolve_config(o["config_path"], network=o["network"])
    account = config.accounts[0]
    wider = replace(account, max_binds=max(account.max_binds, o["binds"]), window=max(account.window, o["window"]))
    accounts = [wider, *config.accounts[1:]]
    # A gateway configured beforehand needs a known port (0: ephemeral).
    smsc = SimulatedSmsc(replace(config, accounts=accounts), clock="real", strict=False, name="load", port=o["smsc_port"] or 0)
    return smsc.start()


def _configured_throttle(smsc: SimulatedSmsc, system_id: str) -> float | None:
    """The account's submit rate limit per second, for the chart (None when unknown or unlimited)."""
    try:
        account = smsc.config.account(system_id)
        throttle = getattr(account, "throttle", None) or smsc.run(lambda: smsc.server.network.profile.throttle)
        if isinstance(throttle, (list, tuple)):
            throttle = throttle[0] if throttle else None
        if throttle is None:
            return None
        if getattr(throttle, "window", None) == "sliding_window":
            return throttle.limit / throttle.period_seconds
        return float(throttle.rate) or None
    except Exception:  # noqa: BLE001 - the throttle line is decoration: never fail a run for it
        return None


__all__ = ["EXIT_RUN_FAILED", "EXIT_USAGE", "EXIT_VIOLATION", "load_command"]
