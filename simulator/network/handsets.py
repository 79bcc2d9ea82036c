"""Subscribers: the state of every handset, which the lifecycle turns into delivery outcomes."""

from __future__ import annotations

from enum import Enum


class HandsetState(str, Enum):
    """What the network knows of a handset."""

    ON = "on"
    OFF = "off"
    ABSENT = "absent"
    MEMORY_FULL = "memory_full"
    BARRED = "barred"
    UNKNOWN_SUBSCRIBER = "unknown_subscriber"


class Handsets:
    """Handset states by E.164 number (ON unless set)."""

    def __init__(self) -> None:
        self._states: dict[str, HandsetState] = {}

    def state(self, number: str) -> HandsetState:
        """The handset's state (ON by default)."""
        return self._states.get(number, HandsetState.ON)

    def set_state(self, number: str, state: HandsetState | str) -> HandsetState:
        """Change a handset's state; returns the previous one."""
        previous = self.state(number)
        new = HandsetState(state)
        if new is HandsetState.ON:
            self._states.pop(number, None)
        else:
            self._states[number] = new
        return previous

    def states(self) -> dict[str, HandsetState]:
        """Every handset not in the default ON state."""
        return dict(self._states)

    def reset(self) -> None:
        """Every handset back ON."""
        self._states.clear()
