"""matrix — patient timelines as private, invite-only rooms on a Matrix homeserver (see `_timeline`)."""

from renkei.connectors.matrix._http import MatrixAuthError, MatrixRequestError
from renkei.connectors.matrix._timeline import (
    PATIENT_STATE,
    MatrixForbiddenError,
    MatrixSettings,
    MatrixTimeline,
    txn_id,
)

__all__ = [
    "PATIENT_STATE",
    "MatrixAuthError",
    "MatrixForbiddenError",
    "MatrixRequestError",
    "MatrixSettings",
    "MatrixTimeline",
    "txn_id",
]
