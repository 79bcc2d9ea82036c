"""The PNG chart of a load run: submit_sm per second, the busiest sliding window, the throttle line, throttled PDUs.

Drawn with matplotlib (the `chart` extra) on the Agg backend, which needs no display.
"""

from __future__ import annotations

from pathlib import Path

from .report import LoadReport, sliding_counts


class ChartUnavailable(RuntimeError):
    """matplotlib is not installed."""


def write_chart(report: LoadReport, path: str | Path, throttle: float | None = None) -> None:
    """Write the chart as PNG; ChartUnavailable when matplotlib is missing."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        raise ChartUnavailable("--chart needs matplotlib: pip install 'smsc-sim[chart]' (or pip install matplotlib)") from None

    seconds = [row["second"] for row in report.history]
    fig, ax = plt.subplots(figsize=(10, 4.5), dpi=100)
    try:
        ax.bar(seconds, [row["accepted"] for row in report.history], width=0.9, align="edge", color="#4c9a2a", label="accepted / s")
        ax.bar(
            seconds, [row["throttled"] for row in report.history], width=0.9, align="edge", color="#d9822b",
            bottom=[row["accepted"] for row in report.history], label="throttled / s",
        )
        ax.step([*seconds, len(seconds)], [*(row["requested"] for row in report.history), 0], where="post", color="#555555", label="requested / s")
        # The sliding count at each submit_sm shows where the rate really peaked, between the bars' edges.
        window = report.submit_window.window
        offsets = [t - report.start for t in report.submit_times]
        ax.plot(offsets, sliding_counts(report.submit_times, window), color="#1f5fa8", linewidth=1, label=f"submit_sm in the last {window:g} s")
        throttled = set(report.throttled_times)
        marks = [(t - report.start, n) for t, n in zip(report.submit_times, sliding_counts(report.submit_times, window)) if t in throttled]
        if marks:
            ax.scatter([m[0] for m in marks], [m[1] for m in marks], marker="x", color="#c0392b", zorder=3, label="throttled submit_sm")
        if throttle:
            ax.axhline(throttle, color="#c0392b", linestyle="--", linewidth=1, label=f"throttle {throttle:g}/s")
        busiest = report.submit_window
        if busiest.start is not None:
            ax.axvspan(busiest.start - report.start, busiest.start - report.start + window, color="#1f5fa8", alpha=0.08, label=f"busiest window ({busiest.count})")
        ax.set_xlabel("seconds since the start")
        ax.set_ylabel("submit_sm")
        ax.set_title(f"{report.counts['requested']} requested, {report.counts['accepted']} accepted, {report.counts['throttled']} throttled")
        ax.legend(loc="upper right", fontsize="small")
        ax.grid(axis="y", alpha=0.3)
        fig.tight_layout()
        fig.savefig(str(path), format="png")
    finally:
        plt.close(fig)


__all__ = ["ChartUnavailable", "write_chart"]
