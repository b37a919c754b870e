"""Sending e-mail through the site's SMTP server (smtplib), encrypted: STARTTLS or implicit TLS.

The server's certificate is verified (the system's CAs, or the site's `ca_file`); a server that does not
offer STARTTLS is refused rather than spoken to in clear, except on this machine's loopback where the
config allows `security: none`. The password comes from the environment or a file (connectors/secrets.py).
Each mail carries a Message-ID derived from what it is (e.g. one person's digest for one day), so a mail
sent again after a crash between "accepted" and "recorded" is recognisably the same mail.
"""

from __future__ import annotations

import ipaddress
import smtplib
import ssl
from email.message import EmailMessage
from email.utils import formatdate
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, Field, model_validator

from renkei.connectors.secrets import env_secret, file_secret
from renkei.errors import PermanentDeliveryError, RetryableDeliveryError


class EmailSettings(BaseModel):
    model_config = {"extra": "forbid"}
    host: str
    port: int = Field(587, ge=1, le=65535)
    security: Literal["starttls", "tls", "none"] = Field(
        "starttls", description="starttls (submission, 587), tls (implicit, 465); none only on loopback"
    )
    ca_file: Path | None = Field(None, description="trust this CA (PEM) instead of the system's, e.g. a site CA")
    username: str | None = None
    password_env: str | None = None
    password_file: Path | None = None
    sender: str = Field(..., pattern=r"^[^@\s]+@[^@\s]+$")
    timeout: float = Field(20.0, gt=0)

    @model_validator(mode="after")
    def _safe(self) -> EmailSettings:
        if self.security == "none" and not _loopback(self.host):
            raise ValueError("security: none sends mail unencrypted; it is allowed only to a server on this machine")
        if self.password_env and self.password_file:
            raise ValueError("give at most one of password_env or password_file (never the password itself)")
        if (self.password_env or self.password_file) and not self.username:
            raise ValueError("a password needs a username")
        return self


class MailSender:
    def __init__(self, settings: EmailSettings) -> None:
        self.settings = settings
        self._password = None
        if settings.password_env:
            self._password = env_secret(settings.password_env, setting="notifications.email.password_env")
        elif settings.password_file:
            self._password = file_secret(settings.password_file, setting="notifications.email.password_file")

    def _tls(self) -> ssl.SSLContext:
        ca = self.settings.ca_file
        return ssl.create_default_context(cafile=str(ca) if ca else None)

    def send(self, to: str, subject: str, body: str, message_id: str) -> None:
        """Hand one plain-text UTF-8 mail to the server; raises RetryableDeliveryError (try later) or
        PermanentDeliveryError (the server refused this address or our login)."""
        s = self.settings
        msg = EmailMessage()
        msg["From"], msg["To"], msg["Subject"] = s.sender, to, subject
        msg["Date"] = formatdate(localtime=False)
        msg["Message-ID"] = f"<{message_id}@{s.sender.split('@', 1)[1]}>"
        msg["Auto-Submitted"] = "auto-generated"  # RFC 3834: no vacation replies back to renkei
        msg.set_content(body, charset="utf-8")
        try:
            if s.security == "tls":
                client: smtplib.SMTP = smtplib.SMTP_SSL(s.host, s.port, timeout=s.timeout, context=self._tls())
            else:
                client = smtplib.SMTP(s.host, s.port, timeout=s.timeout)
            with client:
                if s.security == "starttls":
                    client.ehlo()
                    if not client.has_extn("starttls"):
                        raise PermanentDeliveryError(
                            f"SMTP {s.host}:{s.port} does not offer STARTTLS; mail is never sent unencrypted"
                        )
                    client.starttls(context=self._tls())
                    client.ehlo()
                if s.username and self._password is not None:
                    client.login(s.username, self._password)
                client.send_message(msg)
        except smtplib.SMTPAuthenticationError as exc:
            raise PermanentDeliveryError(f"SMTP {s.host}:{s.port} refused the login ({exc.smtp_code})") from exc
        except smtplib.SMTPRecipientsRefused as exc:
            codes = sorted({code for code, _ in exc.recipients.values()})
            raise PermanentDeliveryError(f"SMTP {s.host}:{s.port} refused the recipient ({codes})") from exc
        except smtplib.SMTPResponseException as exc:
            error = PermanentDeliveryError if 500 <= exc.smtp_code < 600 else RetryableDeliveryError
            raise error(f"SMTP {s.host}:{s.port} answered {exc.smtp_code}") from exc
        except ssl.SSLError as exc:
            raise PermanentDeliveryError(f"SMTP {s.host}:{s.port}: TLS failed ({exc.reason})") from exc
        except (smtplib.SMTPException, OSError) as exc:
            raise RetryableDeliveryError(f"SMTP {s.host}:{s.port} unreachable ({type(exc).__name__})") from exc


def _loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False
