"""The id tokens drivers present: their text says what they are meant to get.

A CSMS under test decides for itself whether a token is valid; simfleet can only choose which
tokens to present. Tokens are built as PREFIX + method letter + charger index + attempt, and the
prefix tells the intended outcome (configure your CSMS's test tokens with the same prefixes, or
use the embedded CSMS, which answers by prefix).
"""

from __future__ import annotations

from dataclasses import dataclass

from simfleet.behaviour.model import AUTH_STATUS, AuthMethod, AuthOutcome

#: OCPP 1.6 §7.28 IdToken is CiString20.
MAX_TOKEN = 20
METHOD_LETTER = {
    AuthMethod.RFID: "R",
    AuthMethod.APP: "A",
    AuthMethod.PLUG_AND_CHARGE: "V",  # vehicle id, Autocharge-style
    AuthMethod.AD_HOC: "H",
}


@dataclass(frozen=True, slots=True)
class TokenBook:
    accepted: str = "OK"
    invalid: str = "INV"
    blocked: str = "BLK"
    expired: str = "EXP"
    concurrent_tx: str = "CTX"
    #: The fixed-rate model presents one token per charger: this str.format pattern ({index}).
    fixed_pattern: str = ""

    def prefix(self, outcome: AuthOutcome) -> str:
        return (self.accepted, self.invalid, self.blocked, self.expired, self.concurrent_tx)[
            outcome
        ]

    def token(self, index: int, method: AuthMethod, outcome: AuthOutcome, attempt: int) -> str:
        if self.fixed_pattern and outcome is AuthOutcome.ACCEPTED:
            return self.fixed_pattern.format(index=index)
        return f"{self.prefix(outcome)}{METHOD_LETTER[method]}{index:08d}{attempt}"[:MAX_TOKEN]

    def refusals(self) -> tuple[tuple[str, str], ...]:
        """(prefix, AuthorizationStatus) of every token meant to be refused: what a CSMS
        answering by prefix (the embedded one: `CsmsSettings.token_statuses`) needs."""
        return tuple(
            (self.prefix(outcome), AUTH_STATUS[outcome])
            for outcome in AuthOutcome
            if outcome is not AuthOutcome.ACCEPTED
        )

    def status_of(self, token: str) -> str:
        """The AuthorizationStatus a token was made for."""
        for prefix, status in self.refusals():
            if token.startswith(prefix):
                return status
        return "Accepted"
