"""OCPP 2.0.1 and 2.1 charging station: the 1.6 behaviour with the 2.x protocol mapping."""
