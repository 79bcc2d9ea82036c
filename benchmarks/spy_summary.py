#!/usr/bin/env python3
"""Summarise a py-spy `record --format raw` file: where the sampled process spent its (non-idle) time.

    python benchmarks/spy_summary.py /tmp/spy.txt [--top 25] [--per N]

Prints the top functions by self time (the frame on top of the stack) and by inclusive time (on the
stack anywhere), as percentages of non-idle samples; with --per N (e.g. the number of submit_sm the
server answered while sampled) also as microseconds per item given the sampling duration.
"""

from __future__ import annotations

import argparse
import re
from collections import Counter
from pathlib import Path

_LINE = re.compile(r"^(.*) (\d+)$")
_FRAME = re.compile(r"^(?P<func>.*?) \((?P<file>[^():]*)(?::\d+)?\)$")


def _name(frame: str) -> str:
    m = _FRAME.match(frame)
    if not m:
        return frame
    file = m.group("file")
    short = "/".join(Path(file).parts[-2:]) if "/" in file else file
    return f"{m.group('func')} ({short})"


def summarise(path: str) -> tuple[int, Counter[str], Counter[str]]:
    total = 0
    self_time: Counter[str] = Counter()
    inclusive: Counter[str] = Counter()
    for line in Path(path).read_text(errors="replace").splitlines():
        m = _LINE.match(line.strip())
        if not m:
            continue
        stack, count = m.group(1), int(m.group(2))
        frames = [_name(f) for f in stack.split(";") if f]
        if not frames:
            continue
        total += count
        self_time[frames[-1]] += count
        for name in set(frames):
            inclusive[name] += count
    return total, self_time, inclusive


def report(path: str, top: int = 25, per: int = 0, seconds: float = 0.0) -> str:
    total, self_time, inclusive = summarise(path)
    if not total:
        return f"{path}: no samples"
    unit = ""
    scale = 0.0
    if per and seconds:
        scale = seconds / total / per * 1e6  # one sample in microseconds per item (non-idle time only)
        unit = f"  (us/item: {per:,} items over {seconds:.1f} s sampled)"
    lines = [f"py-spy samples (non-idle): {total:,}{unit}", "", "top by self time:"]
    for name, count in self_time.most_common(top):
        extra = f"  {count * scale:6.2f} us" if scale else ""
        lines.append(f"  {count / total * 100:6.2f}%{extra}  {name}")
    lines += ["", "top by inclusive time:"]
    for name, count in inclusive.most_common(top):
        extra = f"  {count * scale:6.2f} us" if scale else ""
        lines.append(f"  {count / total * 100:6.2f}%{extra}  {name}")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("path")
    parser.add_argument("--top", type=int, default=25)
    parser.add_argument("--per", type=int, default=0, help="items (e.g. submit_sm) handled while sampled")
    parser.add_argument("--seconds", type=float, default=0.0, help="busy seconds sampled (server CPU seconds)")
    args = parser.parse_args()
    print(report(args.path, args.top, args.per, args.seconds))


if __name__ == "__main__":
    main()
