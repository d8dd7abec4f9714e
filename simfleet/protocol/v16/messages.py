"""Payloads of the charger-initiated OCPP 1.6 Core messages, as plain dicts (OCPP 1.6 §4).

Optional fields are omitted rather than sent as null: the official schemas reject null.
"""

from __future__ import annotations

from simfleet.protocol.frames import Payload
from simfleet.protocol.timefmt import iso_utc


def boot_notification(vendor: str, model: str, serial: str, firmware: str) -> Payload:
    # §4.2: vendor and model are CiString20, serial CiString25, firmware CiString50.
    return {
        "chargePointVendor": vendor[:20],
        "chargePointModel": model[:20],
        "chargePointSerialNumber": serial[:25],
        "firmwareVersion": firmware[:50],
    }


def heartbeat() -> Payload:
    return {}


def status_notification(connector_id: int, status: str, now: float, error: str) -> Payload:
    return {
        "connectorId": connector_id,
        "errorCode": error,
        "status": status,
        "timestamp": iso_utc(now),
    }


def authorize(id_tag: str) -> Payload:
    return {"idTag": id_tag}


def start_transaction(connector_id: int, id_tag: str, meter_wh: float, now: float) -> Payload:
    return {
        "connectorId": connector_id,
        "idTag": id_tag,
        "meterStart": int(meter_wh),
        "timestamp": iso_utc(now),
    }


def stop_transaction(
    transaction_id: int, id_tag: str, meter_wh: float, now: float, reason: str
) -> Payload:
    return {
        "transactionId": transaction_id,
        "idTag": id_tag,
        "meterStop": int(meter_wh),
        "timestamp": iso_utc(now),
        "reason": reason,
    }


def meter_values(
    connector_id: int, transaction_id: int, energy_wh: float, power_w: float, now: float
) -> Payload:
    # §4.7 / §9.1.15 MeterValueSampleInterval: periodic samples of the register and the power.
    return {
        "connectorId": connector_id,
        "transactionId": transaction_id,
        "meterValue": [
            {
                "timestamp": iso_utc(now),
                "sampledValue": [
                    {
                        # Truncated like meterStart/meterStop, so a sample never exceeds them.
                        "value": str(int(energy_wh)),
                        "context": "Sample.Periodic",
                        "measurand": "Energy.Active.Import.Register",
                        "location": "Outlet",
                        "unit": "Wh",
                    },
                    {
                        "value": f"{power_w:.0f}",
                        "context": "Sample.Periodic",
                        "measurand": "Power.Active.Import",
                        "location": "Outlet",
                        "unit": "W",
                    },
                ],
            }
        ],
    }
