"""SS-MIX2 defects: the codec's Defect and MessageError under the names this package always used."""

from __future__ import annotations

from renkei.connectors.hl7v2 import FATAL_KINDS, KINDS, Defect, MessageError

SSMIX2Error = MessageError  # a file that cannot be turned into records as it is; text = quarantine reason

__all__ = ["FATAL_KINDS", "KINDS", "Defect", "SSMIX2Error"]
