"""Payloads of the charger-initiated OCPP 1.6 Core messages, as plain dicts (OCPP 1.6 §4).

Optional fields are omitted rather than sent as null: the official schemas reject null.
"""

from __future__ import annotations

from simfleet.protocol.frames import Payload
from simfleet.protocol.ports import Reading
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


def start_transaction(
    connector_id: int, id_tag: str, meter_wh: float, now: float, reservation_id: int | None = None
) -> Payload:
    payload: Payload = {
        "connectorId": connector_id,
        "idTag": id_tag,
        "meterStart": int(meter_wh),
        "timestamp": iso_utc(now),
    }
    if reservation_id is not None:  # §4.8: the transaction ends this reservation
        payload["reservationId"] = reservation_id
    return payload


def stop_transaction(
    transaction_id: int,
    id_tag: str,
    meter_wh: float,
    now: float,
    reason: str,
    end_sample: list[Payload] | None = None,
) -> Payload:
    payload: Payload = {
        "transactionId": transaction_id,
        "idTag": id_tag,
        "meterStop": int(meter_wh),
        "timestamp": iso_utc(now),
        "reason": reason,
    }
    if end_sample:
        # §6.49 transactionData: the Transaction.End reading (StopTxnSampledData).
        payload["transactionData"] = [{"timestamp": iso_utc(now), "sampledValue": end_sample}]
    return payload


def meter_values(
    connector_id: int, transaction_id: int | None, sampled: list[Payload], now: float
) -> Payload:
    """§4.7 MeterValues: one meterValue (one instant) with its sampled values."""
    payload: Payload = {
        "connectorId": connector_id,
        "meterValue": [{"timestamp": iso_utc(now), "sampledValue": sampled}],
    }
    if transaction_id is not None:
        payload["transactionId"] = transaction_id
    return payload


#: OCPP 1.6 §7.31 Measurand -> unit; the measurands a simulated meter can report.
MEASURAND_UNITS: dict[str, str] = {
    "Energy.Active.Import.Register": "Wh",
    "Power.Active.Import": "W",
    "Current.Import": "A",
    "Voltage": "V",
    "Current.Offered": "A",
    "SoC": "Percent",
    "Temperature": "Celsius",
}

AC_PHASES = ("L1", "L2", "L3")
AC_PHASE_VOLTAGES = ("L1-N", "L2-N", "L3-N")


def sampled_values(
    reading: Reading, measurands: tuple[str, ...], context: str, ac: bool
) -> list[Payload]:
    """SampledValue list for the configured measurands (MeterValuesSampledData, §9.1.17).

    Values the meter cannot know (SoC, Temperature on AC) are left out rather than invented.
    On AC, Current.Import is per active phase (a 1-phase car loads L1 only) and Voltage per
    phase to neutral.
    """
    out: list[Payload] = []
    for measurand in measurands:
        unit = MEASURAND_UNITS[measurand]
        if measurand == "Current.Import":
            if ac:
                for phase, amps in zip(AC_PHASES, reading.currents_a, strict=False):
                    out.append(_sample(f"{amps:.1f}", context, measurand, unit, phase))
            else:
                out.append(_sample(f"{sum(reading.currents_a):.1f}", context, measurand, unit))
        elif measurand == "Voltage":
            if ac:
                for phase in AC_PHASE_VOLTAGES[: len(reading.currents_a)]:
                    out.append(_sample(f"{reading.voltage_v:.1f}", context, measurand, unit, phase))
            else:
                out.append(_sample(f"{reading.voltage_v:.1f}", context, measurand, unit))
        elif measurand == "Energy.Active.Import.Register":
            # Truncated like meterStart/meterStop, so a sample never exceeds them.
            out.append(_sample(str(int(reading.energy_wh)), context, measurand, unit))
        elif measurand == "Power.Active.Import":
            out.append(_sample(f"{reading.power_w:.0f}", context, measurand, unit))
        elif measurand == "Current.Offered":
            out.append(_sample(f"{reading.offered_a:.1f}", context, measurand, unit))
        elif measurand == "SoC" and reading.soc_pct is not None:
            out.append(_sample(f"{reading.soc_pct:.0f}", context, measurand, unit, location="EV"))
        elif measurand == "Temperature" and reading.temperature_c is not None:
            out.append(
                _sample(f"{reading.temperature_c:.1f}", context, measurand, unit, location="Body")
            )
    return out


def _sample(
    value: str,
    context: str,
    measurand: str,
    unit: str,
    phase: str = "",
    location: str = "Outlet",
) -> Payload:
    sample: Payload = {
        "value": value,
        "context": context,
        "measurand": measurand,
        "location": location,
        "unit": unit,
    }
    if phase:
        sample["phase"] = phase
    return sample
