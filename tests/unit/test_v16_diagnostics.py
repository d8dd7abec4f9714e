"""GetDiagnostics and GetLog on the 1.6 charger, pure: the answers, the status notifications,
the upload requests left for the engine, retries, and the file's contents."""

from __future__ import annotations

from typing import Any

from ocpp_schemas import check
from test_v16_core_commands import command
from test_v16_firmware import T0, Clocked, advance, charger_with, update

from simfleet.protocol.timefmt import iso_utc
from simfleet.protocol.v16.charger import Charger16
from simfleet.protocol.v16.diagnostics import log_status_payload
from simfleet.protocol.v16.maintenance import UploadRequest

DIRECTORY = "http://127.0.0.1:8080/uploads/"


def diagnostics(charger: Charger16, csms: Clocked, now: float = T0, **fields: Any) -> Any:
    payload = {"location": DIRECTORY, **fields}
    check("GetDiagnostics", payload)
    answer = command(charger, "GetDiagnostics", payload, now)
    csms.serve(now)
    return answer


def get_log(
    charger: Charger16, csms: Clocked, request_id: int, now: float = T0, **fields: Any
) -> Any:
    payload: dict[str, Any] = {
        "logType": "DiagnosticsLog",
        "requestId": request_id,
        "log": {"remoteLocation": DIRECTORY},
        **fields,
    }
    check("GetLog", payload)
    answer = command(charger, "GetLog", payload, now)
    csms.serve(now)
    return answer


def one_upload(charger: Charger16) -> UploadRequest:
    uploads = charger.take_uploads()
    assert len(uploads) == 1, uploads
    assert charger.take_uploads() == []  # drained
    return uploads[0]


def test_get_diagnostics_uploads_a_file_then_reports_uploaded() -> None:
    charger, csms = charger_with()
    answer = diagnostics(charger, csms)
    name = answer["fileName"]
    assert name.startswith("CP-1-diagnostics-") and name.endswith(".log")
    assert csms.statuses("DiagnosticsStatusNotification") == [(T0, "Uploading")]
    assert charger.diagnostics_status == "Uploading"
    request = one_upload(charger)
    assert (request.url, request.file_name) == (DIRECTORY, answer["fileName"])
    assert request.timeout_s == 30.0
    text = request.body.decode()
    assert 1000 < len(request.body) < 10_000  # a few KB
    for expected in (
        "chargePointIdentity: CP-1",
        "firmwareVersion: simfleet-0.1",
        "HeartbeatInterval=30",
        "connector 1: Available",
        f"{iso_utc(T0)} GetDiagnostics: {answer['fileName']}",
    ):
        assert expected in text, expected
    charger.upload_finished(request.upload_id, True, T0 + 2)
    csms.serve(T0 + 2)
    assert csms.statuses("DiagnosticsStatusNotification")[-1] == (T0 + 2, "Uploaded")
    assert charger.diagnostics_status == "Idle"  # §4.4: nothing going on any more


def test_a_failed_upload_is_retried_after_the_interval_then_upload_failed() -> None:
    charger, csms = charger_with()
    diagnostics(charger, csms, retries=1, retryInterval=20)
    first = one_upload(charger)
    charger.upload_finished(first.upload_id, False, T0 + 1)
    csms.serve(T0 + 1)
    assert charger.take_uploads() == []  # not before the retry interval
    advance(charger, csms, T0 + 1, T0 + 21)
    second = one_upload(charger)
    assert second.upload_id != first.upload_id
    charger.upload_finished(first.upload_id, True, T0 + 22)  # stale: ignored
    charger.upload_finished(second.upload_id, False, T0 + 23)
    csms.serve(T0 + 23)
    assert csms.statuses("DiagnosticsStatusNotification") == [
        (T0, "Uploading"),
        (T0 + 23, "UploadFailed"),
    ]


def test_only_http_is_uploaded_to() -> None:
    charger, csms = charger_with()
    diagnostics(charger, csms, location="ftp://127.0.0.1/diagnostics/")
    assert charger.take_uploads() == []
    assert [s for _, s in csms.statuses("DiagnosticsStatusNotification")] == [
        "Uploading",
        "UploadFailed",
    ]
    get_log(charger, csms, 4, log={"remoteLocation": "sftp://127.0.0.1/logs"})
    assert charger.take_uploads() == []
    log = [(p["status"], p["requestId"]) for _, a, p in csms.log if a == "LogStatusNotification"]
    assert log == [("Uploading", 4), ("UploadFailure", 4)]


def test_the_file_honours_the_time_window() -> None:
    charger, csms = charger_with()
    update(charger, csms)  # maintenance events at T0 and T0 + 10
    advance(charger, csms, T0, T0 + 15)
    window = {"startTime": iso_utc(T0 + 5), "stopTime": iso_utc(T0 + 12)}
    diagnostics(charger, csms, T0 + 20, **window)
    text = one_upload(charger).body.decode()
    assert f"window: {iso_utc(T0 + 5)} .. {iso_utc(T0 + 12)}" in text
    events = text.split("[events]\n", 1)[1].splitlines()
    assert events and all(iso_utc(T0 + 5) <= line[:24] <= iso_utc(T0 + 12) for line in events)
    assert any("Downloaded" in line for line in events)
    assert not any("Downloading" in line for line in events)  # at T0: before the window
    diagnostics(charger, csms, T0 + 30, stopTime=iso_utc(T0 - 1000))
    assert "(no events in the window)" in one_upload(charger).body.decode()


def test_get_log_reports_with_its_request_id_and_a_new_one_cancels() -> None:
    charger, csms = charger_with()
    answer = get_log(charger, csms, 1)
    assert answer["status"] == "Accepted" and answer["filename"].startswith("CP-1-diagnostics-1-")
    assert charger.log_status == "Uploading"
    assert log_status_payload(charger) == {"status": "Uploading", "requestId": 1}
    first = one_upload(charger)
    second_answer = get_log(charger, csms, 2, T0 + 1, logType="SecurityLog")
    assert second_answer["status"] == "AcceptedCanceled"
    second = one_upload(charger)
    assert "[configuration]" not in second.body.decode()  # a security log: events only
    assert "# simfleet security log" in second.body.decode()
    charger.upload_finished(first.upload_id, True, T0 + 2)  # the cancelled one: ignored
    charger.upload_finished(second.upload_id, True, T0 + 3)
    csms.serve(T0 + 3)
    log = [(p["status"], p["requestId"]) for _, a, p in csms.log if a == "LogStatusNotification"]
    assert log == [("Uploading", 1), ("Uploading", 2), ("Uploaded", 2)]
    assert charger.log_status == "Idle"
    assert log_status_payload(charger) == {"status": "Idle"}  # what a trigger would send


def test_trigger_message_reports_the_diagnostics_status() -> None:
    charger, csms = charger_with()
    diagnostics(charger, csms)
    command(charger, "TriggerMessage", {"requestedMessage": "DiagnosticsStatusNotification"}, T0)
    csms.serve(T0)
    assert csms.statuses("DiagnosticsStatusNotification")[-1] == (T0, "Uploading")


def test_bad_payloads_are_formation_violations() -> None:
    charger, _ = charger_with()
    for action, payload in (
        ("GetDiagnostics", {}),
        ("GetDiagnostics", {"location": DIRECTORY, "startTime": "monday"}),
        ("GetLog", {"logType": "AuditLog", "requestId": 1, "log": {"remoteLocation": "x"}}),
        ("GetLog", {"logType": "SecurityLog", "requestId": 1, "log": {}}),
    ):
        answer = command(charger, action, payload, T0)
        assert answer[0] == 4 and answer[2] == "FormationViolation", payload
    assert charger.take_uploads() == []
