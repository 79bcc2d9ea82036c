"""Drive a real Kannel (Debian package `kannel`: bearerbox + smsbox) against our SMSC on 127.0.0.1.

The project writes its own kannel.conf and starts the boxes itself. Kannel facts this relies on:
a blank line ends a config group; log directories must exist; `--pid-file` panics on a stale file,
so the boxes run as child processes; readiness is `Status: running` plus `smsbox:` plus the SMSC
`(online` in status.txt.
"""

from __future__ import annotations

import socket
import subprocess
import time
import urllib.error
import urllib.parse
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

BEARERBOX = "/usr/sbin/bearerbox"
SMSBOX = "/usr/sbin/smsbox"


class KannelError(RuntimeError):
    """Kannel is missing, failed to start, or did not become ready."""


def free_port() -> int:
    """A TCP port free on 127.0.0.1 right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@dataclass
class KannelConfig:
    """What the generated kannel.conf says; ports default to free ones."""

    smsc_port: int
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
            },
            {
                "group": "smsc",
                "smsc": "smpp",
                "smsc-id": self.smsc_id,
                "host": "127.0.0.1",
                "port": self.smsc_port,
                "transceiver-mode": "true",
                "smsc-username": f'"{self.system_id}"',
                "smsc-password": f'"{self.password}"',
                "system-type": '""',
                "enquire-link-interval": self.enquire_link_interval,
                "reconnect-delay": self.reconnect_delay,
                **({"throughput": self.throughput} if self.throughput else {}),
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
                "mo-recode": "true",
            },
            {"group": "sendsms-user", "username": self.sendsms_user, "password": self.sendsms_password},
        ]
        if self.mo_url:
            groups.append({"group": "sms-service", "keyword": "default", "get-url": f'"{self.mo_url}"', "max-messages": 0})
        return "\n".join("".join(f"{key} = {value}\n" for key, value in group.items()) for group in groups)


class Kannel:
    """bearerbox and smsbox as child processes; use as a context manager."""

    def __init__(self, config: KannelConfig, run_dir: Path) -> None:
        self.config = config
        self.run_dir = Path(run_dir)
        self._processes: list[subprocess.Popen[bytes]] = []

    @staticmethod
    def available() -> bool:
        """True when Debian's kannel package is installed."""
        return Path(BEARERBOX).exists() and Path(SMSBOX).exists()

    @property
    def status_url(self) -> str:
        """bearerbox's status page."""
        return f"http://127.0.0.1:{self.config.admin_port}/status.txt?password={self.config.status_password}"

    def status(self) -> str:
        """The status page text, or '' when bearerbox does not answer."""
        try:
            with urllib.request.urlopen(self.status_url, timeout=2) as response:
                return response.read().decode("utf-8", "replace")
        except OSError:
            return ""

    def start(self, timeout: float = 30.0, wait_online: bool = True) -> Kannel:
        """Write the config, start bearerbox then smsbox, and wait until ready."""
        if not self.available():
            raise KannelError(f"{BEARERBOX} not found: install the Debian package 'kannel'")
        self.run_dir.mkdir(parents=True, exist_ok=True)
        conf = self.run_dir / "kannel.conf"
        conf.write_text(self.config.render(self.run_dir))
        deadline = time.monotonic() + timeout
        self._spawn(BEARERBOX, conf, "bearerbox")
        self._wait(lambda s: "Status: running" in s, deadline, "bearerbox admin")
        self._spawn(SMSBOX, conf, "smsbox")

        def ready(status: str) -> bool:
            online = f"{self.config.smsc_id}[" in status and "(online" in status
            return "smsbox:" in status and (online or not wait_online)

        self._wait(ready, deadline, "smsbox and the SMPP bind")
        return self

    def _spawn(self, binary: str, conf: Path, name: str) -> None:
        stderr = open(self.run_dir / f"{name}.stderr", "wb")  # noqa: SIM115 - lives as long as the process
        self._processes.append(
            subprocess.Popen([binary, "-v", "4", str(conf)], stdin=subprocess.DEVNULL, stdout=stderr, stderr=stderr)
        )

    def _wait(self, check, deadline: float, what: str) -> None:  # noqa: ANN001 - small predicate
        while time.monotonic() < deadline:
            for process in self._processes:
                if process.poll() is not None:
                    raise KannelError(f"{process.args[0]} exited with {process.returncode}; see {self.run_dir}")
            if check(self.status()):
                return
            time.sleep(0.05)
        raise KannelError(f"{what} not ready in time; status:\n{self.status()}")

    def sendsms(self, to: str, text: str, sender: str = "12345", **extra: str) -> tuple[int, str]:
        """GET /cgi-bin/sendsms; returns HTTP status and body."""
        query = {"username": self.config.sendsms_user, "password": self.config.sendsms_password}
        query.update({"from": sender, "to": to, "text": text, **extra})
        url = f"http://127.0.0.1:{self.config.sendsms_port}/cgi-bin/sendsms?{urllib.parse.urlencode(query)}"
        try:
            with urllib.request.urlopen(url, timeout=5) as response:
                return response.status, response.read().decode()
        except urllib.error.HTTPError as exc:
            return exc.code, exc.read().decode()

    def stop(self, timeout: float = 10.0) -> None:
        """Graceful admin shutdown (bearerbox unbinds), then terminate, then kill."""
        if not self._processes:
            return
        try:
            urllib.request.urlopen(
                f"http://127.0.0.1:{self.config.admin_port}/shutdown?password={self.config.admin_password}", timeout=2
            ).close()
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

