"""Scenario files (TOML) and the frozen dataclasses they become."""

from simfleet.scenario.load import ScenarioError, load, parse, validate
from simfleet.scenario.model import ChargerModel, Reconnect, Scenario, Security, Timeouts

__all__ = [
    "ChargerModel",
    "Reconnect",
    "Scenario",
    "ScenarioError",
    "Security",
    "Timeouts",
    "load",
    "parse",
    "validate",
]
