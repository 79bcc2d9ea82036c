"""The smsc-sim command line."""

from __future__ import annotations

import asyncio
import logging
import sys

import click

from .config import ConfigError, default_config, load_config

LOG_LEVELS = ("debug", "info", "warning", "error")


@click.group(context_settings={"auto_envvar_prefix": "SMSC_SIM", "help_option_names": ["-h", "--help"]})
@click.version_option(package_name="smsc-sim")
def main() -> None:
    """SMSC simulator and test harness for SMS gateways that speak SMPP."""


@main.command()
@click.option("--config", "config_path", type=click.Path(dir_okay=False), envvar="SMSC_SIM_CONFIG", help="Server YAML config (default: built-in, account smppclient1/password).")
@click.option("--host", default="127.0.0.1", show_default=True, envvar="SMSC_SIM_HOST", help="Address to listen on.")
@click.option("--port", default=2775, show_default=True, type=click.IntRange(0, 65535), envvar="SMSC_SIM_PORT", help="SMPP port (0 picks a free one).")
@click.option("--log-level", default="info", show_default=True, type=click.Choice(LOG_LEVELS, case_sensitive=False), envvar="SMSC_SIM_LOG_LEVEL", help="debug also logs every PDU decoded.")
def serve(config_path: str | None, host: str, port: int, log_level: str) -> None:
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
        asyncio.run(run_server(config, host, port))
    except OSError as exc:
        raise click.ClickException(f"cannot listen on {host}:{port}: {exc.strerror or exc}") from None


@main.command("check-config")
@click.argument("path", type=click.Path(dir_okay=False))
def check_config(path: str) -> None:
    """Validate a server config file and print a summary."""
    try:
        config = load_config(path)
    except ConfigError as exc:
        raise click.ClickException(str(exc)) from None
    click.echo(f"{path}: OK, {len(config.accounts)} account(s): {', '.join(a.system_id for a in config.accounts)}")


if __name__ == "__main__":  # pragma: no cover
    main()
