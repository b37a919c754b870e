"""The `notifications:` section: a digest per person of unread posts and approvals waiting for them.

    notifications:
      console_url: https://renkei.clinic.example.jp/   # the one link in every digest
      send_at: "07:30"                                  # daily, in the site's time zone
      detail: counts                                    # counts (default) | patients
      email:
        host: smtp.clinic.example.jp
        port: 587
        security: starttls                              # starttls (default) | tls | none (loopback only)
        username: renkei
        password_file: /run/secrets/smtp                # or password_env: RENKEI_SMTP_PASSWORD
        sender: renkei@clinic.example.jp
      matrix:
        connector: care-matrix                          # its bot sends each person a notice in a direct room

Who gets what, and where, is each person's own setting (`renkei users contact NAME --email …`).
By default a digest says only how many posts and approvals wait, and links to the console: e-mail
crosses other organisations' servers and lands on phones' lock screens, so patient names appear only
where the site chooses `detail: patients` (and then only the names, never what was posted).
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, Field

from renkei.connectors.smtp import EmailSettings


class MatrixNoticeSettings(BaseModel):
    model_config = {"extra": "forbid"}
    connector: str = Field(..., description="a connector of type matrix; its bot account sends the notices")


class NotificationsConfig(BaseModel):
    model_config = {"extra": "forbid"}
    console_url: str = Field(..., pattern=r"^https?://", description="the console's address, linked in every digest")
    send_at: str = Field("07:30", pattern=r"^([01]\d|2[0-3]):[0-5]\d$", description="daily, site time (HH:MM)")
    detail: Literal["counts", "patients"] = Field(
        "counts", description="counts: numbers and a link only; patients: also the patients' names"
    )
    email: EmailSettings | None = None
    matrix: MatrixNoticeSettings | None = None
