"""One EVSE of a 2.0.1 charging station (one connector per EVSE: evseId = connectorId)."""

from __future__ import annotations

from simfleet.protocol.v16.state import Status


class Evse:
    """An EVSE's behaviour-level status (the 1.6 `Status` the agent and the fleet scan read)
    and the 2.0.1 transaction on it."""

    __slots__ = (
        "auth_status",
        "charging_state",
        "connector_id",
        "error_code",
        "fail_start",
        "id_tag",
        "inoperative",
        "plugged",
        "remote_start_id",
        "seq_no",
        "status",
        "token_kind",
        "transaction_id",
    )

    def __init__(self, evse_id: int) -> None:
        self.connector_id = evse_id  # the name the driver interface uses; = evseId
        self.status = Status.AVAILABLE
        self.error_code = "NoError"
        self.id_tag = ""
        self.token_kind = ""  # IdTokenEnumType given by the CSMS (RequestStartTransaction)
        self.auth_status = ""  # the last idTokenInfo.status for this EVSE ("" = none yet)
        self.fail_start = ""
        self.plugged = False
        self.inoperative = False  # ChangeAvailability Inoperative (G03/G04)
        # E01: the charging station makes the transactionId; seqNo counts from 0 per
        # transaction (E01 / TransactionEventRequest.seqNo).
        self.transaction_id: str | None = None
        self.seq_no = 0
        self.charging_state = ""
        self.remote_start_id: int | None = None

    @property
    def free_status(self) -> Status:
        return Status.UNAVAILABLE if self.inoperative else Status.AVAILABLE

    @property
    def in_transaction(self) -> bool:
        return self.transaction_id is not None
