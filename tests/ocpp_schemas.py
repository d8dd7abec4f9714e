"""The official OCPP 1.6 JSON schemas (shipped in the `ocpp` package), as test validators.

Schema and payload are both read with Decimal floats, as the `ocpp` library reads them: three
1.6 messages say "multipleOf": 0.1, and 15.9 / 0.1 is not a whole float. jsonschema only checks
the "date-time" format with an optional package installed, so it is checked here: RFC 3339 and
a real date, or (with `ocpp_timestamps`) what CSMSs accept in practice: UTC "Z", at most
millisecond precision.
"""

from __future__ import annotations

import functools
import importlib.resources
import json
import re
from datetime import datetime
from decimal import Decimal
from typing import Any

import orjson
from jsonschema import Draft4Validator, FormatChecker

SCHEMAS = importlib.resources.files("ocpp") / "v16" / "schemas"
#: RFC 3339 §5.6 date-time (what JSON schema's "date-time" format means).
RFC3339 = re.compile(
    r"^\d{4}-\d{2}-\d{2}[Tt]\d{2}:\d{2}:\d{2}(\.\d+)?([Zz]|[+-]\d{2}:\d{2})$", re.ASCII
)
#: What OCPP CSMSs accept in practice: UTC, "Z", at most millisecond precision.
OCPP_TIMESTAMP = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d{1,3})?Z$", re.ASCII)

RFC3339_FORMATS = FormatChecker()
OCPP_FORMATS = FormatChecker()


@RFC3339_FORMATS.checks("date-time", raises=ValueError)
def _is_date_time(value: object) -> bool:
    if not isinstance(value, str):
        return True  # "format" only constrains strings
    if RFC3339.match(value) is None:
        return False
    datetime.fromisoformat(value.upper().replace("Z", "+00:00"))  # ValueError: not a real date
    return True


@OCPP_FORMATS.checks("date-time")
def _is_ocpp_timestamp(value: object) -> bool:
    return not isinstance(value, str) or OCPP_TIMESTAMP.match(value) is not None


@functools.cache
def validator(name: str, ocpp_timestamps: bool = False) -> Draft4Validator:
    """The validator of one message, e.g. "StatusNotification" or "ResetResponse"."""
    text = (SCHEMAS / f"{name}.json").read_text(encoding="utf-8-sig")
    schema = json.loads(text, parse_float=Decimal)
    Draft4Validator.check_schema(schema)
    formats = OCPP_FORMATS if ocpp_timestamps else RFC3339_FORMATS
    return Draft4Validator(schema, format_checker=formats)


def violations(name: str, payload: Any, ocpp_timestamps: bool = False) -> list[str]:
    """What is wrong with `payload` as message `name` ([] if nothing), path first."""
    data = json.loads(orjson.dumps(payload), parse_float=Decimal)
    return [
        f"{name}: {'/'.join(map(str, e.absolute_path)) or '<root>'}: {e.message}"
        for e in validator(name, ocpp_timestamps).iter_errors(data)
    ]


def check(name: str, payload: Any) -> None:
    """Assert that `payload` is a valid message `name`."""
    assert violations(name, payload) == []
