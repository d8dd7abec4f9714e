"""CALLERROR codes, named once and spelled per OCPP version.

OCPP-J 1.6 §4.2.3 and OCPP-J 2.0.1 §4.3 list the codes; the two versions spell some of them
differently (1.6 "FormationViolation" / "OccurenceConstraintViolation", 2.0.1 "FormatViolation" /
"OccurrenceConstraintViolation") and 2.0.1 adds RpcFrameworkError and MessageTypeNotSupported.
The core raises the version-neutral names below; a `Dialect` spells them for the wire.
"""

from __future__ import annotations

from enum import StrEnum


class ErrorCode(StrEnum):
    """Version-neutral CALLERROR codes (values are the 2.0.1 spellings)."""

    NOT_IMPLEMENTED = "NotImplemented"
    NOT_SUPPORTED = "NotSupported"
    INTERNAL_ERROR = "InternalError"
    PROTOCOL_ERROR = "ProtocolError"
    SECURITY_ERROR = "SecurityError"
    FORMAT_VIOLATION = "FormatViolation"
    PROPERTY_CONSTRAINT_VIOLATION = "PropertyConstraintViolation"
    OCCURRENCE_CONSTRAINT_VIOLATION = "OccurrenceConstraintViolation"
    TYPE_CONSTRAINT_VIOLATION = "TypeConstraintViolation"
    GENERIC_ERROR = "GenericError"
    RPC_FRAMEWORK_ERROR = "RpcFrameworkError"
    MESSAGE_TYPE_NOT_SUPPORTED = "MessageTypeNotSupported"


#: OCPP-J 1.6 §4.2.3: its spellings, and what stands in for the codes it lacks.
V16_SPELLING: dict[ErrorCode, str] = {
    ErrorCode.FORMAT_VIOLATION: "FormationViolation",
    ErrorCode.OCCURRENCE_CONSTRAINT_VIOLATION: "OccurenceConstraintViolation",
    # 1.6 has no RPC-level codes: a frame that is not a valid RPC message is malformed.
    ErrorCode.RPC_FRAMEWORK_ERROR: "FormationViolation",
    ErrorCode.MESSAGE_TYPE_NOT_SUPPORTED: "FormationViolation",
}

V2_SPELLING: dict[ErrorCode, str] = {}
