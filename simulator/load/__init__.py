"""`smsc-sim load`: an open-model load tester that reports exactly what the SMSC saw (see cli.py and report.py)."""

from .driver import Schedule, drive
from .report import (
    CallbackSample,
    LoadReport,
    RateLimit,
    ReceiptSample,
    RequestSample,
    SubmitSample,
    Thresholds,
    max_in_window,
    percentile,
)
from .run import RunOptions, run_load

__all__ = [
    "CallbackSample", "LoadReport", "RateLimit", "ReceiptSample", "RequestSample", "RunOptions", "Schedule",
    "SubmitSample", "Thresholds", "drive", "max_in_window", "percentile", "run_load",
]
