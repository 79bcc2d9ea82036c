"""The smsc-sim command line."""

from __future__ import annotations

import asyncio
import logging
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path
from urllib.parse import urlsplit

import click
import yaml

from .clock import Clock, make_clock
from .config import ConfigError, default_config, load_config, parse_config
from .network.profile import builtin_profiles

LOG_LEVELS = ("debug", "info", "warning", "error")
DEFAULT_CONTROL_URL = "http://127.0.0.1:8775"  # 8775: the control API's conventional port, next to SMPP's 2775
READYZ_POLL = 0.2  # seconds between readiness probes with --wait


def _clock_option(ctx: click.Context, param: click.Parameter, value: str) -> Clock:
    """Turn --clock real|virtual|scaled:N into a clock; a usage error otherwise."""
    try:
        clock = make_clock(value.strip().lower())
        if getattr(clock, "factor", 1.0) <= 0:
            raise ValueError("the scale factor must be positive")
        return clock
    except ValueError as exc:
        raise click.BadParameter(str(exc)) from None


@click.group(context_settings={"auto_envvar_prefix": "SMSC_SIM", "help_option_names": ["-h", "--help"]})
@click.version_option(package_name="smsc-sim")
def main() -> None:
    """SMSC simulator and test harness for SMS gateways that speak SMPP."""


@main.command()
@click.option("--config", "config_path", type=click.Path(dir_okay=False), envvar="SMSC_SIM_CONFIG", help="Server YAML config (default: built-in, account smppclient1/password).")
@click.option("--host", default="127.0.0.1", show_default=True, envvar="SMSC_SIM_HOST", help="Address to listen on.")
@click.option("--port", default=2775, show_default=True, type=click.IntRange(0, 65535), envvar="SMSC_SIM_PORT", help="SMPP port (0 picks a free one).")
@click.option("--log-level", default="info", show_default=True, type=click.Choice(LOG_LEVELS, case_sensitive=False), envvar="SMSC_SIM_LOG_LEVEL", help="debug also logs every PDU decoded.")
@click.option("--http-port", default=0, type=click.IntRange(0, 65535), envvar="SMSC_SIM_HTTP_PORT", help="Port of the HTTP control API (0 or absent: no control API; 8775 by convention).")
@click.option("--http-host", default="127.0.0.1", show_default=True, envvar="SMSC_SIM_HTTP_HOST", help="Address the control API listens on.")
@click.option("--clock", "clock", default="real", show_default=True, envvar="SMSC_SIM_CLOCK", callback=_clock_option, help="Network clock: real, virtual (moves only by POST /clock/advance) or scaled:N (N times real time).")
def serve(config_path: str | None, host: str, port: int, log_level: str, http_port: int, http_host: str, clock: Clock) -> None:
    """Run the SMSC on its default network until SIGTERM or SIGINT."""
    from .server import serve as run_server

    logging.basicConfig(
        level=getattr(logging, log_level.upper()),
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        stream=sys.stderr,
    )
    try:
        config = load_config(config_path) if config_path else default_config()
    except ConfigError as exc:
        raise click.ClickException(str(exc)) from None
    try:
        asyncio.run(run_server(config, host, port, clock=clock, http_port=http_port or None, http_host=http_host))
    except OSError as exc:
        # asyncio's bind errors name the address, which tells the SMPP port from the control API's.
        raise click.ClickException(f"cannot listen: {exc.strerror or exc}") from None


@main.command("check-config")
@click.argument("path", type=click.Path(dir_okay=False))
def check_config(path: str) -> None:
    """Validate a server config file and print a summary."""
    try:
        config = load_config(path)
    except ConfigError as exc:
        raise click.ClickException(str(exc)) from None
    click.echo(f"{path}: OK, {len(config.accounts)} account(s): {', '.join(a.system_id for a in config.accounts)}")


@main.command()
@click.option("--url", default=DEFAULT_CONTROL_URL, show_default=True, envvar="SMSC_SIM_CONTROL_URL", help="Base URL of the control API.")
@click.option("--wait", is_flag=True, help="Poll until ready or until the timeout.")
@click.option("--timeout", default=30.0, show_default=True, type=click.FloatRange(min=0), help="Seconds to wait (with --wait) or for the one probe.")
def readyz(url: str, wait: bool, timeout: float) -> None:
    """Exit 0 when the simulator's control API answers GET /readyz with 200, 1 when it is not ready."""
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise click.BadParameter(f"{url!r} is not an http:// URL", param_hint="--url")
    target = url if parts.path.rstrip("/").endswith("/readyz") else url.rstrip("/") + "/readyz"
    deadline = time.monotonic() + timeout
    while True:
        remaining = deadline - time.monotonic()
        ready, why = _probe(target, max(0.1, min(remaining, 5.0)))
        if ready:
            click.echo(f"ready: {why}")
            return
        remaining = deadline - time.monotonic()
        if not wait or remaining <= 0:
            click.echo(f"not ready: {why}", err=True)
            sys.exit(1)
        time.sleep(min(READYZ_POLL, remaining))


@main.command()
@click.option("--url", default=DEFAULT_CONTROL_URL, show_default=True, envvar="SMSC_SIM_CONTROL_URL", help="Base URL of the control API.")
@click.option("--config", "config_path", type=click.Path(dir_okay=False), help="Give the simulator this server config file (its sessions are closed).")
def reset(url: str, config_path: str | None) -> None:
    """Reset a running simulator (POST /reset), optionally giving it another configuration; exit 1 when it refuses."""
    from .harness.scenario_runner import http_call

    body = None
    if config_path is not None:
        path = Path(config_path)
        try:
            text = path.read_text(encoding="utf-8")
        except OSError as exc:
            raise click.ClickException(f"{path}: cannot read: {exc.strerror}") from None
        try:
            config = parse_config(text, str(path), path.parent)  # checked here, where errors can name the file's lines
        except ConfigError as exc:
            raise click.ClickException(str(exc)) from None
        document = yaml.safe_load(text) or {}
        if config.network not in builtin_profiles():
            # A profile file travels as the profile: the simulator may not see this machine's files.
            document["network"] = yaml.safe_load(Path(config.network).read_text(encoding="utf-8"))
        body = {"config": document}
    try:
        answer = http_call("POST", url.rstrip("/") + "/reset", json_body=body, timeout=30)
    except (TypeError, ValueError) as exc:
        raise click.ClickException(f"{config_path}: a value JSON cannot carry: {exc}") from None
    except OSError as exc:
        click.echo(f"cannot reach {url}: {getattr(exc, 'reason', exc)}", err=True)
        sys.exit(1)
    if answer.status != 200:
        detail = answer.json.get("detail", answer.body) if isinstance(answer.json, dict) else answer.body
        click.echo(f"refused: HTTP {answer.status}: {detail}", err=True)
        sys.exit(1)
    if answer.json.get("reconfigured"):
        click.echo(f"reset with {config_path}: {answer.json['sessions_closed']} session(s) closed")
    else:
        click.echo("reset")


def _probe(url: str, timeout: float) -> tuple[bool, str]:
    """One GET of the readiness URL: (ready, what it said or why it failed)."""
    try:
        with urllib.request.urlopen(url, timeout=timeout) as answer:
            return answer.status == 200, answer.read(4096).decode("utf-8", "replace").strip()
    except urllib.error.HTTPError as exc:
        return False, f"HTTP {exc.code} {exc.read(4096).decode('utf-8', 'replace').strip()}"
    except (urllib.error.URLError, OSError) as exc:
        reason = exc.reason if isinstance(exc, urllib.error.URLError) else exc
        return False, f"{url}: {reason}"


if __name__ == "__main__":  # pragma: no cover
    main()


def _register_harness_commands() -> None:
    """Commands that live with the harness: scenario replay, the Kannel config writer and the load tester."""
    from .harness.kannel import kannel_config_command
    from .harness.replay import run_command
    from .load.cli import load_command

    main.add_command(run_command, "run")
    main.add_command(kannel_config_command, "kannel-config")
    main.add_command(load_command, "load")


_register_harness_commands()
