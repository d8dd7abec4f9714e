"""Which charger state machine speaks which OCPP version.

The scenario loader accepts offers of these versions only; the agent builds the charger of its
settings' version, and rebuilds it when the CSMS picked another one (`ChargerAgent.speak`).
"""

from __future__ import annotations

from simfleet.protocol.dialect import DIALECTS
from simfleet.protocol.ports import Meter, Observer
from simfleet.protocol.v16.charger import Charger16, ChargerSettings
from simfleet.protocol.v201.charger import Charger201

#: 1.6 (Charger16); 2.0.1 and 2.1 (Charger201 on their dialects).
SIMULATED_VERSIONS = ("1.6", "2.0.1", "2.1")


def simulated_versions() -> tuple[str, ...]:
    return SIMULATED_VERSIONS


def build_charger(
    settings: ChargerSettings, observer: Observer, meter: Meter
) -> Charger16 | Charger201:
    """The charger of the settings' OCPP version."""
    if settings.ocpp_version == "1.6":
        return Charger16(settings, observer, meter)
    return Charger201(settings, observer, meter, DIALECTS[settings.ocpp_version])
