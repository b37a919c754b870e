"""HL7Error: an HL7 v2 message renkei cannot take as it is, with what the ACK must say about it."""

from __future__ import annotations

from renkei.errors import InputError


class HL7Error(InputError):
    """`code` is the HL7 table 0357 error code, `location` the ERR-2 position (`MSH^1^10`).

    `reject=True` means the message cannot be accepted at all (ACK AR, not stored); otherwise it is
    stored and quarantined (ACK AE). The text never quotes patient data.
    """

    def __init__(self, message: str, *, code: str = "207", location: str = "", reject: bool = False) -> None:
        super().__init__(message)
        self.code = code
        self.location = location
        self.reject = reject
