"""renkei's errors, typed by what the operator (or the engine) should do about them.

    RenkeiError
    ├── ConfigError              fix the configuration; nothing runs until then
    ├── InputError               bad input: the message is QUARANTINED with this reason, the run goes on
    │   └── (codec errors, e.g. SSMIX2Error, HL7Error, DeviceCodecError, subclass this)
    ├── DeliveryError            a destination refused or failed
    │   ├── RetryableDeliveryError   back off and try again (timeouts, 5xx, locked)
    │   └── PermanentDeliveryError   retrying cannot help (4xx, unknown group): DEAD at once
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


class RefusedError(RenkeiError):
    """A gate refused to let data flow; the reason is recorded and audited."""


class NotFoundError(RenkeiError):
    pass
