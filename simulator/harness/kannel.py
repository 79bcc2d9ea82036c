"""Drive a real Kannel (Debian package `kannel`: bearerbox + smsbox) against our SMSC on 127.0.0.1.

The project writes its own kannel.conf and starts the boxes itself. Kannel facts this relies on:
a blank line ends a config group; log directories must exist; `--pid-file` panics on a stale file,
so the boxes run as child processes; readiness is `Status: running` plus `smsbox:` plus the SMSC
`(online` in status.txt.

`KannelGateway` is what tests use: a gateway bound to a simulator with its options, sendsms, the
status of the SMPP link, and the variables a scenario's HTTP templates need. `dlr_url`/`mo_url` build
callback URLs with Kannel's %-escapes, and `kannel_config_command` is `smsc-sim kannel-config`.
"""

from __future__ import annotations

import re
import subprocess
import time
import urllib.error
import urllib.parse
import urllib.request
from collections import defaultdict
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any, Iterable, Mapping, NamedTuple

import click

from .runner import free_port

BEARERBOX = "/usr/sbin/bearerbox"
SMSBOX = "/usr/sbin/smsbox"


class KannelError(RuntimeError):
    """Kannel is missing, failed to start, or did not become ready."""


class KannelMissing(KannelError):
    """Kannel is not installed (a runner may skip on this outside CI)."""


@dataclass
class KannelConfig:
    """What the generated kannel.conf says; ports default to free ones."""

    smsc_port: int
    smsc_host: str = "127.0.0.1"
    system_id: str = "kannel"
    password: str = "secret"
    smsc_id: str = "smsc1"
    throughput: int = 0
    enquire_link_interval: int = 30
    reconnect_delay: int = 1
    sms_resend_freq: int = 2
    sms_resend_retry: int = -1
    mo_url: str = ""
    admin_port: int = field(default_factory=free_port)
    smsbox_port: int = field(default_factory=free_port)
    sendsms_port: int = field(default_factory=free_port)
    admin_password: str = "adminpw"
    status_password: str = "statuspw"
    sendsms_user: str = "tester"
    sendsms_password: str = "testpw"
    log_level: int = 1
    default_sender: str = ""  # sendsms without `from` uses it
    max_messages: int = 10  # sendsms splits a long text into at most this many UDH parts (Kannel's default: 1)
    wait_ack: int = 0  # 0: Kannel's default (60 s before an unacked submit is re-sent)
    max_pending_submits: int = 0  # 0: Kannel's default (10)
    http_request_retry: int = 0  # callbacks answered other than 200/202 are retried this often (0: never)
    http_queue_delay: int = 0  # seconds between those retries (0: Kannel's default)
    mo_recode: bool = True  # UCS-2 MOs reach get-url as UTF-8
    alt_charset: str = ""  # e.g. "UTF-8": MT text sent as those bytes with data_coding 0
    store_file: bool = False  # keep queued MTs in run_dir/kannel.store across restarts
    extra: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)  # more settings per group name

    def render(self, run_dir: Path) -> str:
        """The kannel.conf text: one blank line between groups and none inside one."""
        groups = [
            {
                "group": "core",
                "admin-port": self.admin_port,
                "admin-interface": "127.0.0.1",
                "admin-password": self.admin_password,
                "status-password": self.status_password,
                "admin-allow-ip": '"127.0.0.1"',
                "smsbox-port": self.smsbox_port,
                "smsbox-interface": "127.0.0.1",
                "box-allow-ip": '"127.0.0.1"',
                "log-file": f'"{run_dir}/bearerbox.log"',
                "log-level": self.log_level,
                "access-log": f'"{run_dir}/bearerbox-access.log"',
                "dlr-storage": "internal",
                "sms-resend-freq": self.sms_resend_freq,
                "sms-resend-retry": self.sms_resend_retry,
                **({"store-type": "file", "store-location": f'"{run_dir}/kannel.store"'} if self.store_file else {}),
            },
            {
                "group": "smsc",
                "smsc": "smpp",
                "smsc-id": self.smsc_id,
                "host": self.smsc_host,
                "port": self.smsc_port,
                "transceiver-mode": "true",
                "smsc-username": f'"{self.system_id}"',
                "smsc-password": f'"{self.password}"',
                "system-type": '""',
                "enquire-link-interval": self.enquire_link_interval,
                "reconnect-delay": self.reconnect_delay,
                **({"throughput": self.throughput} if self.throughput else {}),
                **({"wait-ack": self.wait_ack} if self.wait_ack else {}),
                **({"max-pending-submits": self.max_pending_submits} if self.max_pending_submits else {}),
                **({"alt-charset": f'"{self.alt_charset}"'} if self.alt_charset else {}),
            },
            {
                "group": "smsbox",
                "bearerbox-host": "127.0.0.1",
                "bearerbox-port": self.smsbox_port,
                "sendsms-port": self.sendsms_port,
                "sendsms-interface": "127.0.0.1",
                "log-file": f'"{run_dir}/smsbox.log"',
                "log-level": self.log_level,
                "access-log": f'"{run_dir}/smsbox-access.log"',
                "mo-recode": "true" if self.mo_recode else "false",
                **({"http-request-retry": self.http_request_retry} if self.http_request_retry else {}),
                **({"http-queue-delay": self.http_queue_delay} if self.http_queue_delay else {}),
            },
            {
                "group": "sendsms-user",
                "username": self.sendsms_user,
                "password": self.sendsms_password,
                "concatenation": "true",
                "max-messages": self.max_messages,
                **({"default-sender": self.default_sender} if self.default_sender else {}),
            },
        ]
        if self.mo_url:
            groups.append({"group": "sms-service", "keyword": "default", "get-url": f'"{self.mo_url}"', "max-messages": 0})
        for group in groups:
            group.update(self.extra.get(str(group["group"]), {}))
        return "\n".join("".join(f"{key} = {value}\n" for key, value in group.items()) for group in groups)


class SendsmsReply(NamedTuple):
    """sendsms's HTTP status and body: 202 '0: Accepted for delivery', or '3: Queued for later delivery' while unbound."""

    status: int
    body: str

    @property
    def accepted(self) -> bool:
        """True for 202 '0: Accepted' (the SMSC link is up)."""
        return self.status == 202 and self.body.startswith("0:")

    @property
    def queued(self) -> bool:
        """True for 202 '3: Queued for later delivery' (the SMSC link is down; Kannel keeps it)."""
        return self.status == 202 and self.body.startswith("3:")


# The SMSC line of status.txt: "smsc1[smsc1]    SMPP:127.0.0.1:2775/2775:user: (online 3s, rcvd ..."
_SMSC_STATE = re.compile(r"^\s*(?P<id>[^\[\s]+)\[[^\]]*\]\s+\S+\s+\((?P<state>[a-z-]+)", re.MULTILINE)


class Kannel:
    """bearerbox and smsbox as child processes; use as a context manager."""

    def __init__(self, config: KannelConfig, run_dir: Path, conf_file: Path | None = None) -> None:
        self.config = config
        self.run_dir = Path(run_dir)
        # A config file written elsewhere (smsc-sim kannel-config) is used as it is; config gives its ports.
        self.conf_file = Path(conf_file) if conf_file is not None else None
        self._processes: list[subprocess.Popen[bytes]] = []

    @staticmethod
    def available() -> bool:
        """True when Debian's kannel package is installed."""
        return Path(BEARERBOX).exists() and Path(SMSBOX).exists()

    @property
    def admin_url(self) -> str:
        """bearerbox's admin HTTP root (status.txt, shutdown, start-smsc...)."""
        return f"http://127.0.0.1:{self.config.admin_port}"

    @property
    def status_url(self) -> str:
        """bearerbox's status page."""
        return f"{self.admin_url}/status.txt?password={self.config.status_password}"

    @property
    def sendsms_url(self) -> str:
        """smsbox's sendsms endpoint, without a query."""
        return f"http://127.0.0.1:{self.config.sendsms_port}/cgi-bin/sendsms"

    def status(self) -> str:
        """The status page text, or '' when bearerbox does not answer."""
        try:
            with urllib.request.urlopen(self.status_url, timeout=2) as response:
                return response.read().decode("utf-8", "replace")
        except OSError:
            return ""

    def smsc_state(self) -> str:
        """The SMPP link's state in status.txt: 'online', 're-connecting', 'connecting', 'dead'... ('' if unknown)."""
        for match in _SMSC_STATE.finditer(self.status()):
            if match["id"] == self.config.smsc_id:
                return match["state"]
        return ""

    def start(self, timeout: float = 30.0, wait_online: bool = True) -> Kannel:
        """Write the config, start bearerbox then smsbox, and wait until ready (both stopped if that fails)."""
        if not self.available():
            raise KannelMissing(f"{BEARERBOX} not found: install the Debian package 'kannel'")
        self.run_dir.mkdir(parents=True, exist_ok=True)
        conf = self.conf_file
        if conf is None:
            conf = self.run_dir / "kannel.conf"
            conf.write_text(self.config.render(self.run_dir))
        deadline = time.monotonic() + timeout
        try:
            self._spawn(BEARERBOX, conf, "bearerbox")
            self._wait(lambda s: "Status: running" in s, deadline, "bearerbox admin")
            self._spawn(SMSBOX, conf, "smsbox")

            def ready(status: str) -> bool:
                online = f"{self.config.smsc_id}[" in status and "(online" in status
                return "smsbox:" in status and (online or not wait_online)

            self._wait(ready, deadline, "smsbox and the SMPP bind")
        except BaseException:
            self.stop(timeout=5)  # never leave a half-started bearerbox behind
            raise
        return self

    def _spawn(self, binary: str, conf: Path, name: str) -> None:
        stderr = open(self.run_dir / f"{name}.stderr", "wb")  # noqa: SIM115 - lives as long as the process
        self._processes.append(
            subprocess.Popen([binary, "-v", "4", str(conf)], stdin=subprocess.DEVNULL, stdout=stderr, stderr=stderr)
        )

    def _wait(self, check, deadline: float, what: str) -> None:  # noqa: ANN001 - small predicate
        # Kannel has no readiness event to wait on: poll status.txt, bounded by the deadline.
        while time.monotonic() < deadline:
            for process in self._processes:
                if process.poll() is not None:
                    raise KannelError(f"{process.args[0]} exited with {process.returncode}; see {self.run_dir}")
            if check(self.status()):
                return
            time.sleep(0.05)
        raise KannelError(f"{what} not ready in time (logs in {self.run_dir}); status:\n{self.status()}")

    def wait_online(self, timeout: float = 10.0) -> None:
        """Wait until status.txt shows the SMPP link online (e.g. after the SMSC dropped it)."""
        self._wait(lambda _: self.smsc_state() == "online", time.monotonic() + timeout, "the SMPP link (online)")

    def wait_offline(self, timeout: float = 10.0) -> str:
        """Wait until Kannel sees the SMPP link down; returns the state it shows ('re-connecting'...)."""
        self._wait(lambda _: self.smsc_state() not in ("online", ""), time.monotonic() + timeout, "the SMPP link down")
        return self.smsc_state()

    def sendsms(self, to: str, text: str, sender: str | None = "12345", **extra: Any) -> SendsmsReply:
        """GET /cgi-bin/sendsms; extra keys use '_' for '-' (dlr_mask=31); sender None leaves `from` to Kannel."""
        query = {"username": self.config.sendsms_user, "password": self.config.sendsms_password}
        if sender is not None:
            query["from"] = sender
        query.update({"to": to, "text": text})
        query.update({key.replace("_", "-"): str(value) for key, value in extra.items() if value is not None})
        url = f"{self.sendsms_url}?{urllib.parse.urlencode(query)}"
        try:
            with urllib.request.urlopen(url, timeout=5) as response:
                return SendsmsReply(response.status, response.read().decode())
        except urllib.error.HTTPError as exc:
            return SendsmsReply(exc.code, exc.read().decode())

    def stop(self, timeout: float = 10.0) -> None:
        """Graceful admin shutdown (bearerbox unbinds), then terminate, then kill."""
        if not self._processes:
            return
        try:
            urllib.request.urlopen(f"{self.admin_url}/shutdown?password={self.config.admin_password}", timeout=2).close()
        except OSError:
            pass
        deadline = time.monotonic() + timeout
        for process in reversed(self._processes):
            try:
                process.wait(max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                process.terminate()
                try:
                    process.wait(2)
                except subprocess.TimeoutExpired:
                    process.kill()
                    process.wait(2)
        self._processes.clear()

    def log(self, name: str = "bearerbox.log") -> str:
        """A log file's text ('' when absent)."""
        path = self.run_dir / name
        return path.read_text(errors="replace") if path.exists() else ""

    def __enter__(self) -> Kannel:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


# --- callback URLs -------------------------------------------------------------------------------

# What Kannel substitutes in a dlr-url: callback type (1 delivered, 2 failed, 4 intermediate, 8 SMSC
# ACK, 16 SMSC NACK), the receipt or ACK/NACK text, smsc-id, the SMSC's message id, to, from, unix time.
DLR_ESCAPES = {"type": "%d", "status": "%A", "smsc": "%i", "fid": "%F", "to": "%p", "from": "%P", "ts": "%T"}
# What it substitutes in the MO get-url: sender, receiver, the raw text (UTF-8 with mo-recode), smsc-id,
# coding (0 7-bit, 1 8-bit, 2 UCS-2), charset, Kannel's uuid, unix time.
MO_ESCAPES = {
    "from": "%p",
    "to": "%P",
    "text": "%b",
    "smsc": "%i",
    "coding": "%c",
    "charset": "%C",
    "id": "%I",
    "ts": "%T",
}
# A Kannel escape: '%' then a letter (%% is a literal '%').
_ESCAPE = re.compile(r"%[A-Za-z]")


def callback_url(base: str, escapes: Mapping[str, str], **fixed: Any) -> str:
    """base plus fixed parameters (URL-encoded, '%' doubled so Kannel keeps it) and Kannel escapes left for Kannel."""
    encoded = urllib.parse.urlencode({key: str(value) for key, value in fixed.items()}).replace("%", "%%")
    tail = "&".join(part for part in (encoded, "&".join(f"{key}={esc}" for key, esc in escapes.items())) if part)
    return f"{base}{'&' if '?' in base else '?'}{tail}" if tail else base


def dlr_url(base: str, **fixed: Any) -> str:
    """A dlr-url for sendsms: base?<fixed, e.g. id=m1>&type=%d&status=%A&smsc=%i&fid=%F&to=%p&from=%P&ts=%T."""
    return callback_url(base, DLR_ESCAPES, **fixed)


def mo_url(base: str, **fixed: Any) -> str:
    """An MO get-url: base?<fixed>&from=%p&to=%P&text=%b&smsc=%i&coding=%c&charset=%C&id=%I&ts=%T."""
    return callback_url(base, MO_ESCAPES, **fixed)


# --- KannelGateway -------------------------------------------------------------------------------

# KannelConfig fields a gateway takes as options (the SMSC address and credentials are arguments).
CONFIG_OPTIONS = frozenset(f.name for f in fields(KannelConfig)) - {"smsc_port", "smsc_host", "system_id", "password", "mo_url"}
# Options that are not kannel.conf settings but defaults for every sendsms call.
SENDSMS_OPTIONS = frozenset({"dlr_mask", "dlr_url"})


class KannelGateway(Kannel):
    """A Kannel gateway bound to an SMSC: options are KannelConfig fields plus sendsms defaults dlr_mask, dlr_url."""

    def __init__(
        self,
        smsc_host: str,
        smsc_port: int,
        system_id: str,
        password: str,
        run_dir: Path | str,
        *,
        mo_url: str = "",
        **options: Any,
    ) -> None:
        unknown = set(options) - CONFIG_OPTIONS - SENDSMS_OPTIONS
        if unknown:
            raise TypeError(f"unknown Kannel option(s) {sorted(unknown)}; use {sorted(CONFIG_OPTIONS | SENDSMS_OPTIONS)}")
        self.sendsms_defaults = {key: options.pop(key) for key in SENDSMS_OPTIONS if key in options}
        config = KannelConfig(
            smsc_port=smsc_port, smsc_host=smsc_host, system_id=system_id, password=password, mo_url=mo_url, **options
        )
        super().__init__(config, Path(run_dir))

    def start(self, timeout: float = 30.0, wait_online: bool = True) -> KannelGateway:
        """Write kannel.conf, start bearerbox and smsbox, and wait until the SMPP link is online."""
        super().start(timeout, wait_online)
        return self

    def __enter__(self) -> KannelGateway:
        return self.start()

    def sendsms(self, to: str, text: str, sender: str | None = None, **extra: Any) -> SendsmsReply:
        """GET /cgi-bin/sendsms with the gateway's dlr_mask/dlr_url defaults; no sender: Kannel's default-sender."""
        return super().sendsms(to, text, sender, **{**self.sendsms_defaults, **extra})

    def variables(self) -> dict[str, str]:
        """What HTTP request templates need: sendsms_url, username, password, admin_url, status_url, ..."""
        config = self.config
        return {
            "sendsms_url": self.sendsms_url,
            "username": config.sendsms_user,
            "password": config.sendsms_password,
            "admin_url": self.admin_url,
            "admin_password": config.admin_password,
            "status_url": self.status_url,
            "smsc_id": config.smsc_id,
            "sendsms_port": str(config.sendsms_port),
            "admin_port": str(config.admin_port),
            "default_sender": config.default_sender,
            "mo_url": config.mo_url,
            "run_dir": str(self.run_dir),
        }


# --- what Kannel's at-least-once delivery looks like at the SMSC ---------------------------------


def duplicate_submits(submits: Iterable[Any]) -> dict[tuple[str, str], list[Any]]:
    """Logged submit_sm PDUs grouped by (destination_addr, text), keeping only groups seen more than once."""
    groups: dict[tuple[str, str], list[Any]] = defaultdict(list)
    for entry in submits:
        groups[(entry.destination_addr, entry.text or "")].append(entry)
    return {key: entries for key, entries in groups.items() if len(entries) > 1}


def describe_duplicates(duplicates: Mapping[tuple[str, str], list[Any]]) -> str:
    """A readable report: one line per duplicated (destination, text) with the PDUs that carried it."""
    if not duplicates:
        return "no duplicate submit_sm"
    lines = [f"{len(duplicates)} message(s) submitted more than once:"]
    for (destination, text), entries in duplicates.items():
        lines.append(f"  to {destination} text {text!r}: {len(entries)} times")
        lines.extend(f"    {entry.describe()}" for entry in entries)
    return "\n".join(lines)


# --- smsc-sim kannel-config ----------------------------------------------------------------------


def _host_port(ctx: click.Context, param: click.Parameter, value: str) -> tuple[str, int]:
    host, _, port = value.rpartition(":")
    if not host or not port.isdigit() or not 0 < int(port) < 65536:
        raise click.BadParameter("use HOST:PORT, e.g. 127.0.0.1:2775")
    return host, int(port)


@click.command("kannel-config")
@click.option("--smsc", "smsc", required=True, callback=_host_port, help="The simulator's SMPP address, HOST:PORT.")
@click.option("--system-id", required=True, help="The simulator account Kannel binds with.")
@click.option("--password", required=True, help="Its password.")
@click.option("--mo-url", "mo_callback", default="", help="MO callback URL; without Kannel %-escapes, from/to/text/... are appended.")
@click.option("--throughput", default=0, type=click.IntRange(min=0), help="Max submit_sm per second (0: unlimited).")
@click.option("--sender", default="", help="default-sender for sendsms calls without `from`.")
@click.option("--admin-port", default=13000, show_default=True, type=click.IntRange(1, 65535))
@click.option("--smsbox-port", default=13001, show_default=True, type=click.IntRange(1, 65535))
@click.option("--sendsms-port", default=13013, show_default=True, type=click.IntRange(1, 65535))
@click.option("--log-dir", default="/tmp/kannel", show_default=True, type=click.Path(file_okay=False), help="Kannel's logs (created: Kannel does not create it).")
@click.option("--out", "out", default=None, type=click.Path(dir_okay=False), help="Write the config here instead of printing it.")
def kannel_config_command(
    smsc: tuple[str, int],
    system_id: str,
    password: str,
    mo_callback: str,
    throughput: int,
    sender: str,
    admin_port: int,
    smsbox_port: int,
    sendsms_port: int,
    log_dir: str,
    out: str | None,
) -> None:
    """Print (or write) a kannel.conf that binds Kannel to a running simulator as a transceiver."""
    host, port = smsc
    if mo_callback and not _ESCAPE.search(mo_callback):
        mo_callback = mo_url(mo_callback)
    config = KannelConfig(
        smsc_port=port,
        smsc_host=host,
        system_id=system_id,
        password=password,
        mo_url=mo_callback,
        throughput=throughput,
        default_sender=sender,
        admin_port=admin_port,
        smsbox_port=smsbox_port,
        sendsms_port=sendsms_port,
    )
    logs = Path(log_dir).resolve()
    logs.mkdir(parents=True, exist_ok=True)
    urls = Kannel(config, logs)
    header = (
        f"# kannel.conf for the SMSC simulator at {host}:{port} (account {system_id}), by smsc-sim kannel-config.\n"
        "# Start:  bearerbox -v 1 kannel.conf &  then  smsbox -v 1 kannel.conf &\n"
        f"# Ready:  curl '{urls.status_url}' shows '(online' on the smsc1 line\n"
        f"# Send:   curl -G 'http://127.0.0.1:{sendsms_port}/cgi-bin/sendsms' --data-urlencode username={config.sendsms_user}"
        f" --data-urlencode password={config.sendsms_password} --data-urlencode from={sender or '38100'}"
        " --data-urlencode to=+33612345678 --data-urlencode text=hello\n"
        f"# Stop:   curl '{urls.admin_url}/shutdown?password={config.admin_password}'\n"
        "# A blank line ends a group: keep none inside one.\n\n"
    )
    text = header + config.render(logs)
    if out:
        Path(out).write_text(text)
        click.echo(f"wrote {out}; logs go to {logs}", err=True)
    else:
        click.echo(text, nl=False)
