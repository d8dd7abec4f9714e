"""Which charger state machine speaks which OCPP version (the agent builds one per version).

A version is simulated once its charger class is registered here; the scenario loader accepts
only offers of simulated versions, and the agent rebuilds its charger when the CSMS picked
another version than the one it has (`ChargerAgent.speak`).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from simfleet.protocol.v16.charger import Charger16

#: OCPP version -> charger class, called as `cls(settings, observer, meter)`.
CHARGER_CLASSES: dict[str, Callable[..., Any]] = {Charger16.version: Charger16}


def simulated_versions() -> tuple[str, ...]:
    return tuple(CHARGER_CLASSES)
