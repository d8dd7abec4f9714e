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

    def call_timed_out(self, version: str, action: str, waited_s: float = 0.0) -> None: ...

    def call_lost(self, version: str, action: str) -> None: ...

    def malformed(self, version: str, code: str) -> None: ...

    def transaction_message_dropped(self, version: str, action: str, reason: str) -> None:
        """A transaction message given up: `queue_full` (the offline queue had no room) or
        `attempts` (TransactionMessageAttempts failures, OCPP 1.6 §4.7)."""
        ...

    def command_handled(self, version: str, action: str, status: str) -> None: ...

    def booted(self) -> None: ...

    def transaction_started(self, version: str) -> None:
        """The CSMS gave a transaction its id."""
        ...

    def transaction_stopped(self, version: str) -> None:
        """A transaction's stop message was sent or queued for sending."""
        ...


class Reading:
    """What a connector's meter shows at one instant (OCPP 1.6 §7.31 SampledValue sources).

    `currents_a` has one value per phase the EV loads (L1, L2, L3 order) on AC, one on DC;
    `soc_pct` and `temperature_c` are None where the charger cannot know them (AC).
    """

    __slots__ = (
        "currents_a",
        "energy_wh",
        "offered_a",
        "power_w",
        "soc_pct",
        "temperature_c",
        "voltage_v",
    )

    def __init__(
        self,
        energy_wh: float,
        power_w: float,
        currents_a: tuple[float, ...],
        voltage_v: float,
        offered_a: float,
        soc_pct: float | None = None,
        temperature_c: float | None = None,
    ) -> None:
        self.energy_wh = energy_wh
        self.power_w = power_w
        self.currents_a = currents_a
        self.voltage_v = voltage_v
        self.offered_a = offered_a
        self.soc_pct = soc_pct
        self.temperature_c = temperature_c


class Meter(Protocol):
    """The electrical truth of one charger's connectors at a given time."""

    def energy_wh(self, connector_id: int, now: float) -> float:
        """The connector's energy register: never decreasing."""
        ...

    def read(self, connector_id: int, now: float) -> Reading:
        """Everything the meter measures, brought up to `now`."""
        ...

    def status_changed(self, connector_id: int, status: str, now: float) -> None:
        """The connector's OCPP status changes at `now` (energy flows only while Charging)."""
        ...

    def set_limit(self, connector_id: int, limit_w: float, now: float) -> None:
        """Smart charging: the connector may deliver at most `limit_w` from now (inf: none)."""
        ...

    def remote_start(self, connector_id: int, now: float) -> bool:
        """The CSMS started a session remotely on a free connector: does an EV plug in now?
        (The driver who used the app is there.) False leaves the connector waiting."""
        ...
