"""The one error every device codec raises on malformed bytes.

`DeviceCodecError` is an `InputError`, so the engine quarantines the input with the message as reason.
The message always names the byte offset (counted from the start of the input the caller handed in:
the APDU, the GATT value, or the serial stream) and the reason, and never contains patient data.
"""

from __future__ import annotations

from renkei.errors import InputError


class DeviceCodecError(InputError):
    """Malformed device bytes: truncated, wrong length field, unknown choice, bad CRC, bad BCD digit …

    `offset` is the byte offset where the problem was found; `reason` is the bare reason.
    """

    def __init__(self, reason: str, offset: int) -> None:
        super().__init__(f"byte offset {offset}: {reason}")
        self.reason = reason
        self.offset = offset

    def __reduce__(self) -> tuple[type[DeviceCodecError], tuple[str, int]]:
        return (type(self), (self.reason, self.offset))


class DecoderFault(DeviceCodecError):
    """A decoder failed on this input in a way it did not foresee (a bug, kept as the `__cause__`).

    Reported like malformed input (the line or frame is skipped with its offset, the stream goes on), so a
    feed never dies on one bad line; fuzz tests assert it never happens.
    """
