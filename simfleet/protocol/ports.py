"""What a protocol state machine needs from the layers that drive it, as typing Protocols.

The charger state machines are pure: they report what happened to an `Observer` (the sim layer's
stats recorder implements it) and read energy and power from a `Meter` (the sim layer's agent,
fed by the behaviour models, implements it).
"""

from __future__ import annotations

from typing import Protocol


class Observer(Protocol):
    """Receives the outcome of every exchange; must be cheap, it sits on the hot path."""

    def call_answered(
        self, version: str, action: str, latency_s: float, error_code: str | None
    ) -> None: ...

    def call_timed_out(self, version: str, action: str) -> None: ...

    def call_lost(self, version: str, action: str) -> None: ...

    def malformed(self, version: str, code: str) -> None: ...

    def command_handled(self, version: str, action: str, status: str) -> None: ...

    def booted(self) -> None: ...


class Meter(Protocol):
    """The electrical truth of one charger's connectors at a given time."""

    def energy_wh(self, connector_id: int, now: float) -> float:
        """The connector's energy register: never decreasing."""
        ...

    def power_w(self, connector_id: int, now: float) -> float: ...

    def status_changed(self, connector_id: int, status: str, now: float) -> None:
        """The connector's OCPP status changes at `now` (energy flows only while Charging)."""
        ...
