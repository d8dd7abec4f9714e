"""OCPP 1.6J: payload builders, the charger state machine and the CSMS responder."""
