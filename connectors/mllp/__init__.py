"""HL7 v2 over MLLP: a durable listener (push source), a sender (destination), the framing codec, ACKs.

    from renkei.connectors.mllp import MLLPListener, MLLPSender, MLLPClient, FrameDecoder, build_ack

Connector types: `mllp` (MLLPListener, see listener.py for settings and the ACK rules) and `mllp-sender`
(MLLPSender, see sender.py). `renkei mllp send HOST:PORT FILE…` sends files by hand.
"""

from ._errors import HL7Error
from ._header import Header, read_header
from .ack import Ack, build_ack, read_ack, validate_strict
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
