"""simfleet: a load simulator for EV charging backends (OCPP-J CSMSs)."""

__version__ = "0.1.0"
