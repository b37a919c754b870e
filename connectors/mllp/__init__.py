"""HL7 v2 over MLLP: a durable listener (push source), a sender (destination), MLLP framing.

The HL7 v2 side (header, charset, ACKs, parsing into records) is the codec `renkei.connectors.hl7v2`;
its names used here are re-exported for callers of this package.

    from renkei.connectors.mllp import MLLPListener, MLLPSender, MLLPClient, FrameDecoder, build_ack

Connector types: `mllp` (MLLPListener, see listener.py for settings and the ACK rules) and `mllp-sender`
(MLLPSender, see sender.py). `renkei mllp send HOST:PORT FILE…` sends files by hand.
"""

from renkei.connectors.hl7v2 import Ack, Header, HL7Error, build_ack, read_ack, read_header, validate_strict

from .client import MLLPClient
from .framing import FrameDecoder, FramingError, Problem, frame
from .listener import MLLPListener
from .sender import MLLPSender

__all__ = [
    "Ack",
    "FrameDecoder",
    "FramingError",
    "HL7Error",
    "Header",
    "MLLPClient",
    "MLLPListener",
    "MLLPSender",
    "Problem",
    "build_ack",
    "frame",
    "read_ack",
    "read_header",
    "validate_strict",
]
