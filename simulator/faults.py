"""Reply rules: what the SMSC answers instead of (or besides) its normal reply to chosen requests.

A rule selects requests by command (`on`), account and field matchers (`match`), and says what to do:
answer with another command_status, change response fields, delay the response, never answer, or close
the connection before or after answering. `times` makes it one-shot (1), n-shot, or permanent (None);
ordered rules apply one after another. A rule with no action is a pure expectation: the harness
fails a test whose one-shot expectations never matched. This is the one mechanism behind the
fixture's `expect(...)`, scenario `expect` actions and the control API's rules.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass, field
from typing import Any, Mapping

from .matching import describe, normalise_pdu_expectations, pdu_matches
from .smpp.constants import parse_status, status_name
from .smpp.pdu import Pdu

CLOSE_WHEN = (None, "before", "after")
_rule_ids = itertools.count(1)


@dataclass
class ReplyRule:
    """Selects requests and says how the SMSC answers them; see the module docstring."""

    on: tuple[str, ...] = ("any",)
    match: Mapping[str, Any] = field(default_factory=dict)
    account: str | None = None
    status: int | None = None
    fields: Mapping[str, Any] = field(default_factory=dict)
    delay: float = 0.0
    respond: bool = True
    close: str | None = None
    times: int | None = 1
    ordered: bool = False
    name: str = ""
    hits: int = 0
    id: int = field(default_factory=lambda: next(_rule_ids))

    def __post_init__(self) -> None:
        if isinstance(self.on, str):
            self.on = (self.on,)
        if isinstance(self.status, str):
            self.status = parse_status(self.status)
        if self.close not in CLOSE_WHEN:
            raise ValueError(f"close must be 'before', 'after' or None, not {self.close!r}")
        if self.times is not None and self.times < 1:
            raise ValueError("times must be >= 1, or None for a permanent rule")
        if self.delay < 0:
            raise ValueError("delay cannot be negative")
        self.match = normalise_pdu_expectations(self.match)

    @property
    def exhausted(self) -> bool:
        """True once a counted rule has fired `times` times."""
        return self.times is not None and self.hits >= self.times

    @property
    def changes_reply(self) -> bool:
        """False for a pure expectation (the normal reply goes out)."""
        return self.status is not None or bool(self.fields) or self.delay > 0 or not self.respond or self.close is not None

    def selects(self, pdu: Pdu, system_id: str | None) -> bool:
        """True when this rule applies to the request from this account."""
        if self.account is not None and self.account != system_id:
            return False
        return pdu_matches(pdu, self.on, self.match)

    def describe(self) -> str:
        """One line for logs and reports."""
        what = []
        if self.status is not None:
            what.append(f"status {status_name(self.status)}")
        if self.fields:
            what.append(f"fields {dict(self.fields)}")
        if self.delay:
            what.append(f"delay {self.delay:g}s")
        if not self.respond:
            what.append("no response")
        if self.close:
            what.append(f"close {self.close} responding")
        selector = "/".join(self.on)
        if self.account:
            selector += f" from {self.account}"
        if self.match:
            selector += " where " + ", ".join(f"{k} {describe(v)}" for k, v in self.match.items())
        times = "always" if self.times is None else f"{self.hits}/{self.times}"
        label = f"{self.name}: " if self.name else ""
        return f"{label}{selector} -> {', '.join(what) or 'normal reply'} ({times}{', ordered' if self.ordered else ''})"

    def to_dict(self) -> dict[str, Any]:
        """A JSON-friendly form for the control API."""
        return {
            "id": self.id,
            "name": self.name,
            "on": list(self.on),
            "account": self.account,
            "match": {k: describe(v) if not isinstance(v, (str, int, float, bool)) else v for k, v in self.match.items()},
            "status": self.status,
            "fields": dict(self.fields),
            "delay": self.delay,
            "respond": self.respond,
            "close": self.close,
            "times": self.times,
            "ordered": self.ordered,
            "hits": self.hits,
        }


class ReplyRules:
    """The SMSC's active rules, first match wins; ordered rules are eligible one at a time, in order."""

    def __init__(self) -> None:
        self.rules: list[ReplyRule] = []

    def add(self, rule: ReplyRule) -> ReplyRule:
        """Install a rule (after the existing ones)."""
        self.rules.append(rule)
        return rule

    def remove(self, rule_id: int) -> bool:
        """Drop a rule by id; False when there was none."""
        before = len(self.rules)
        self.rules = [r for r in self.rules if r.id != rule_id]
        return len(self.rules) != before

    def clear(self) -> None:
        """Drop every rule."""
        self.rules.clear()

    def take(self, pdu: Pdu, system_id: str | None) -> ReplyRule | None:
        """The rule that answers this request, counting the hit; None for the normal reply."""
        next_ordered = next((r for r in self.rules if r.ordered and not r.exhausted), None)
        for rule in self.rules:
            if rule.exhausted or (rule.ordered and rule is not next_ordered):
                continue
            if rule.selects(pdu, system_id):
                rule.hits += 1
                return rule
        return None

    def unmet(self) -> list[ReplyRule]:
        """Counted rules that have not fired as often as they should."""
        return [r for r in self.rules if r.times is not None and r.hits < r.times]
