"""Helpers shared by the benchmark scripts: server subprocesses, CPU pinning, CPU accounting, machine facts.

Everything here talks to 127.0.0.1 only, and every wait is bounded in time.
"""

from __future__ import annotations

import math
import os
import platform
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

from simulator.harness.runner import free_port  # noqa: F401 - the benchmarks' port picker

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
CONFIG = HERE / "network.yaml"
HOST = "127.0.0.1"
CLK_TCK = os.sysconf("SC_CLK_TCK")


def cpu_plan() -> tuple[int | None, int | None]:
    """(server cpu, client cpu): the first two CPUs this process may use, or (None, None) on one CPU."""
    try:
        cpus = sorted(os.sched_getaffinity(0))
    except AttributeError:  # not Linux
        return None, None
    if len(cpus) < 2:
        return None, None
    return cpus[0], cpus[1]


def prepare_machine() -> tuple[dict, int | None, int | None]:
    """Print the machine facts, pin this process (the load client) and return (facts, server cpu, client cpu)."""
    facts = machine_facts()
    print_machine(facts)
    server_cpu, client_cpu = cpu_plan()
    if server_cpu is None:
        print("WARNING: fewer than 2 CPUs available; server and client share the CPU, figures are not 'one core'")
    pin_self(client_cpu)
    facts.update(server_cpu=server_cpu, client_cpu=client_cpu)
    return facts, server_cpu, client_cpu


def pin_self(cpu: int | None) -> None:
    """Pin this process (the load client) to one CPU."""
    if cpu is not None and hasattr(os, "sched_setaffinity"):
        os.sched_setaffinity(0, {cpu})


def spawn(argv: list[str], cpu: int | None, *, env: dict[str, str] | None = None) -> subprocess.Popen[bytes]:
    """Start a server subprocess pinned to cpu (taskset -c when available, else sched_setaffinity)."""
    cmd = list(argv)
    use_taskset = cpu is not None and shutil.which("taskset") is not None
    if use_taskset:
        cmd = ["taskset", "-c", str(cpu), *cmd]  # taskset execs, so the pid stays the server's
    proc = subprocess.Popen(cmd, cwd=REPO, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    if cpu is not None and not use_taskset and hasattr(os, "sched_setaffinity"):
        os.sched_setaffinity(proc.pid, {cpu})
    return proc


def simulator_argv(
    port: int, config: Path = CONFIG, profile_out: str | None = None, instrument: list[str] | None = None
) -> list[str]:
    """The command line of the simulator under test.

    profile_out runs it under cProfile; instrument (a list, possibly empty, of serve_instrumented.py
    options) runs it through serve_instrumented.py, which reports GC passes and pauses on exit.
    """
    serve = ["serve", "--config", str(config), "--host", HOST, "--port", str(port), "--log-level", "warning"]
    base = [sys.executable]
    if profile_out:
        base += ["-m", "cProfile", "-o", profile_out]
    if instrument is not None:
        return base + [str(HERE / "serve_instrumented.py"), *instrument, "--", *serve]
    return base + ["-m", "simulator.cli", *serve]


def wait_for_port(proc: subprocess.Popen[bytes], port: int, timeout: float = 15.0) -> None:
    """Return once 127.0.0.1:port accepts a connection; raise if the process dies or time runs out."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            err = proc.stderr.read().decode(errors="replace") if proc.stderr else ""
            raise RuntimeError(f"server exited with {proc.returncode} before listening:\n{err}")
        try:
            with socket.create_connection((HOST, port), timeout=0.5):
                return
        except OSError:
            time.sleep(0.05)
    raise RuntimeError(f"server did not accept on {HOST}:{port} within {timeout:.0f}s")


def stop(proc: subprocess.Popen[bytes] | None, grace: float = 10.0) -> None:
    """SIGTERM the process (the simulator shuts down gracefully on it), SIGKILL after grace seconds."""
    if proc is None or proc.poll() is not None:
        return
    try:
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=grace)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait(timeout=5)
    except ProcessLookupError:
        pass


def rss_mib(pid: int) -> float:
    """A process's resident memory (VmRSS) in MiB (nan when unreadable)."""
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1]) / 1024.0
    except (OSError, ValueError, IndexError):
        pass
    return math.nan


def proc_cpu_seconds(pid: int) -> float:
    """utime + stime of a process from /proc/<pid>/stat, in seconds (nan when unreadable)."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as f:
            data = f.read()
    except OSError:
        return math.nan
    # The command name (field 2) may contain spaces; fields after the closing ')' are fixed.
    rest = data[data.rindex(b")") + 2 :].split()
    utime, stime = int(rest[11]), int(rest[12])  # fields 14 and 15 of stat(5)
    return (utime + stime) / CLK_TCK


def _proc_stat_ticks(cpu: int | None) -> list[int] | None:
    """The tick counters of one CPU's line (or the total, for None) in /proc/stat; None when unreadable."""
    name = "cpu" if cpu is None else f"cpu{cpu}"
    try:
        with open("/proc/stat") as f:
            for line in f:
                parts = line.split()
                if parts and parts[0] == name:
                    return [int(x) for x in parts[1:]]
    except (OSError, ValueError):
        pass
    return None


def cpu_steal_seconds(cpu: int | None) -> float:
    """Steal time of one CPU (or all, for None) from /proc/stat: time the hypervisor gave elsewhere."""
    ticks = _proc_stat_ticks(cpu)
    if ticks is None:
        return math.nan
    return ticks[7] / CLK_TCK if len(ticks) > 7 else 0.0


def cpu_busy_seconds(cpu: int | None) -> float:
    """Non-idle time of one CPU (user+nice+system+irq+softirq+steal) from /proc/stat, in seconds.

    Compared with the server's own CPU time over the same interval, it shows how much of the
    server's core something else (another process, interrupts) took: the noise on a shared machine.
    """
    v = _proc_stat_ticks(cpu)
    if v is None or len(v) < 8:
        return math.nan
    return (v[0] + v[1] + v[2] + v[5] + v[6] + v[7]) / CLK_TCK


def self_cpu_seconds() -> float:
    """This process's user + system CPU seconds."""
    t = os.times()
    return t.user + t.system


def percentile(sorted_samples: list[float], p: float) -> float:
    """Exact nearest-rank percentile of already sorted samples (p in 0..100); nan when empty."""
    n = len(sorted_samples)
    if n == 0:
        return math.nan
    rank = max(1, math.ceil(p / 100.0 * n))
    return sorted_samples[min(rank, n) - 1]


def machine_facts() -> dict[str, object]:
    """nproc, CPU model, Python, kernel, load: what a reader needs to weigh the figures."""
    model = "?"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    try:
        nproc = len(os.sched_getaffinity(0))
    except AttributeError:
        nproc = os.cpu_count() or 0
    try:
        load = Path("/proc/loadavg").read_text().split()[:3]
    except OSError:
        load = []
    commit = dirty = "?"
    try:
        commit = subprocess.run(
            ["git", "-C", str(REPO), "rev-parse", "--short", "HEAD"], capture_output=True, text=True, timeout=10
        ).stdout.strip() or "?"
        changed = subprocess.run(
            ["git", "-C", str(REPO), "status", "--porcelain", "--untracked-files=no", "--", "simulator"],
            capture_output=True,
            text=True,
            timeout=10,
        ).stdout.strip()
        dirty = "uncommitted changes in simulator/" if changed else "clean"
    except (OSError, subprocess.SubprocessError):
        pass
    return {
        "git_commit": commit,
        "git_tree": dirty,
        "nproc": nproc,
        "cpu_model": model,
        "python": platform.python_version(),
        "implementation": platform.python_implementation(),
        "kernel": platform.release(),
        "loadavg_at_start": " ".join(load),
        "taskset": shutil.which("taskset") is not None,
    }


def print_machine(facts: dict[str, object]) -> None:
    print(
        f"machine: nproc={facts['nproc']}  cpu={facts['cpu_model']}  python={facts['python']}"
        f"  kernel={facts['kernel']}  loadavg={facts['loadavg_at_start']}  commit={facts['git_commit']} ({facts['git_tree']})"
    )
