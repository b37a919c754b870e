"""The one patient-id rule, for every intake (MLLP, SS-MIX2) and every command.

    from renkei.identifiers import PATIENT_ID_RULE, is_patient_id

A patient id is 1 to 64 ASCII letters, digits and `- _ . :`, starting with a letter or digit. So it can
name a folder (`ssmix2 read --patient`), a room alias or a URL segment without escaping, and ids such as
`../../etc`, `<script>` or quoted strings never enter the system. Refusals name the rule and the field,
never the value (it may be patient data or an attack string).
"""

from __future__ import annotations

import re

_PATIENT_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.:-]{0,63}")

PATIENT_ID_RULE = "1-64 ASCII letters, digits and - _ . : starting with a letter or digit"


def is_patient_id(value: str) -> bool:
    """Whether `value` follows the patient-id rule."""
    return _PATIENT_ID.fullmatch(value) is not None
