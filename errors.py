"""renkei's errors, typed by what the operator (or the engine) should do about them.

    RenkeiError
    ├── ConfigError              fix the configuration; nothing runs until then
    ├── InputError               bad input: the message is QUARANTINED with this reason, the run goes on
    │   └── (codec errors, e.g. SSMIX2Error, HL7Error, DeviceCodecError, subclass this)
    ├── DeliveryError            a destination refused or failed
    │   ├── RetryableDeliveryError   back off and try again (timeouts, 5xx, locked)
    │   └── PermanentDeliveryError   retrying cannot help (4xx, unknown group): DEAD at once
    │       └── PartialDeliveryError part was delivered, the rest refused per record: SENT, those quarantined
    ├── RefusedError             a gate said no (no consent, unlinked group, awaiting approval)
    └── NotFoundError            an operator asked for something that is not there

Messages must never contain patient data: name ids, files, segments, fields and byte offsets.
"""

from __future__ import annotations


class RenkeiError(Exception):
    """Base of every error renkei raises on purpose."""


class ConfigError(RenkeiError):
    """The configuration is invalid; `errors` lists (yaml path, line, reason)."""

    def __init__(self, message: str, errors: list[tuple[str, int | None, str]] | None = None) -> None:
        super().__init__(message)
        self.errors = errors or []


class InputError(RenkeiError):
    """Input that cannot be processed as it is. Its text is the quarantine reason."""


class DeliveryError(RenkeiError):
    pass


class RetryableDeliveryError(DeliveryError):
    pass


class PermanentDeliveryError(DeliveryError):
    pass


class PartialDeliveryError(PermanentDeliveryError):
    """A destination delivered part of a payload and refused the rest, record by record.

    `receipt` is what was delivered; `quarantined` the reason for each refused record (field and rule, never a
    value). The engine records the delivery SENT and the message QUARANTINED with these reasons, so fixing
    the input (or the mapping) and reprocessing sends the rest; an engine that does not know this class
    treats it as the PermanentDeliveryError it is.
    """

    def __init__(self, message: str, receipt: str, quarantined: list[str]) -> None:
        super().__init__(message)
        self.receipt = receipt
        self.quarantined = quarantined


class RefusedError(RenkeiError):
    """A gate refused to let data flow; the reason is recorded and audited."""


class NotFoundError(RenkeiError):
    pass
