"""SMSC simulator and test harness for SMS gateways that speak SMPP."""

__version__ = "0.1.0"
