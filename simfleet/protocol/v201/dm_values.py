"""Checking a value a CSMS sets (SetVariables, B05) against its variable's data type and
characteristics, and giving back the canonical form that is stored and reported.

Decisions (the 2.0.1 spec leaves them open):
* booleans are "true"/"false" in any letter case, stored lower case;
* integers are decimal digits with an optional sign; decimals any finite number, both within
  minLimit..maxLimit (inclusive);
* strings, OptionList, MemberList and SequenceList are at most maxLimit characters long
  (VariableCharacteristicsType.maxLimit: "the maximum length of the (CSV) string");
* a MemberList / SequenceList may be empty (e.g. no measurands), its members are trimmed of
  spaces, must be in valuesList and must not repeat;
* a dateTime must be an RFC 3339 date-time.
"""

from __future__ import annotations

import math
import re
from typing import Final

from simfleet.protocol.timefmt import parse_iso_utc
from simfleet.protocol.v201.dm_types import LIST_TYPES, DataType, Variable

_INTEGER: Final = re.compile(r"^[+-]?\d{1,10}$", re.ASCII)


def canonical(variable: Variable, raw: str) -> str | None:
    """The value to store, or None if `raw` is not a valid value of `variable`."""
    kind = variable.data_type
    if kind is DataType.BOOLEAN:
        folded = raw.strip().lower()
        return folded if folded in ("true", "false") else None
    if kind is DataType.INTEGER:
        return _integer(variable, raw)
    if kind is DataType.DECIMAL:
        return _decimal(variable, raw)
    if kind is DataType.DATE_TIME:
        try:
            parse_iso_utc(raw)
        except ValueError:
            return None
        return raw
    if variable.max_limit is not None and len(raw) > variable.max_limit:
        return None
    if kind in LIST_TYPES:
        return _members(variable, raw)
    if kind is DataType.OPTION_LIST:
        return raw if raw in variable.values else None
    return raw if len(raw) >= variable.min_length else None


def _in_range(variable: Variable, number: float) -> bool:
    low, high = variable.min_limit, variable.max_limit
    return (low is None or number >= low) and (high is None or number <= high)


def _integer(variable: Variable, raw: str) -> str | None:
    if _INTEGER.match(raw.strip()) is None:
        return None
    number = int(raw)
    return str(number) if _in_range(variable, number) else None


def _decimal(variable: Variable, raw: str) -> str | None:
    try:
        number = float(raw)
    except ValueError:
        return None
    if not math.isfinite(number) or not _in_range(variable, number):
        return None
    return raw.strip()


def _members(variable: Variable, raw: str) -> str | None:
    if not raw.strip():
        return ""
    members = [member.strip() for member in raw.split(",")]
    if len(set(members)) != len(members) or any(m not in variable.values for m in members):
        return None
    return ",".join(members)
