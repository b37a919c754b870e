"""Daily digests: each person is told how many posts wait unread and how many approvals wait for them.

What a digest counts, per person (a renkei user, by their login name):
    unread   posts on the built-in timeline's patient groups they are a member of, not yet read by them
    waiting  messages held for a physician's approval, when their role may decide approvals
A person with nothing waiting gets nothing. Where it goes is the person's own contact setting
(`renkei users contact`): e-mail (through the site's SMTP server, encrypted) and/or a Matrix notice in
the bot's direct room with them. The text says numbers and gives one link to the console; patient
names are added only where the site set `notifications.detail: patients`, and never what was posted.

Each (person, day, channel) is sent at most once: the row in `digests_sent` is written, with its audit
entry, right after the channel accepted the digest; a rerun, a restart or a second host skips it. A crash
between "accepted" and "written" can send that one digest again, with the same Message-ID / transaction
id, so mail clients and Matrix show it once.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any
from zoneinfo import ZoneInfo

import sqlalchemy as sa

from renkei.config.notifications import NotificationsConfig
from renkei.errors import ConfigError, DeliveryError, NotFoundError
from renkei.pipelines import audit
from renkei.pipelines.audit import AuditEntry
from renkei.pipelines.people import People, User
from renkei.pipelines.schema import MessageState, digests_sent, messages, user_contacts, users

if TYPE_CHECKING:
    from renkei.pipelines.engine import Engine
    from renkei.pipelines.store import Store

CHANNELS = ("email", "matrix")


@dataclass(slots=True, frozen=True)
class Contact:
    user_name: str
    email: str = ""
    matrix_id: str = ""
    lang: str = "ja"


@dataclass(slots=True)
class Digest:
    user: User
    lang: str
    unread: int = 0
    unread_patients: list[str] = field(default_factory=list)  # person ids, most unread first
    waiting: int = 0
    waiting_patients: list[str] = field(default_factory=list)

    @property
    def empty(self) -> bool:
        return self.unread == 0 and self.waiting == 0

    def counts(self) -> dict[str, int]:
        return {"unread": self.unread, "unread_patients": len(self.unread_patients), "waiting": self.waiting}


@dataclass(slots=True)
class DigestReport:
    sent: list[tuple[str, str]] = field(default_factory=list)  # (user, channel)
    skipped: list[tuple[str, str, str]] = field(default_factory=list)  # (user, channel, why)
    failed: list[tuple[str, str, str]] = field(default_factory=list)  # (user, channel, reason)


# -- contacts ---------------------------------------------------------------------------------------
def set_contact(
    store: Store,
    name: str,
    *,
    email: str | None = None,
    matrix_id: str | None = None,
    lang: str | None = None,
    actor: str = "",
) -> Contact:
    """Set where `name` gets digests (None leaves a field as it is, "" clears it); audited."""
    if email and ("@" not in email or any(c.isspace() for c in email)):
        raise ConfigError("--email: not an e-mail address")
    if matrix_id and not (matrix_id.startswith("@") and ":" in matrix_id):
        raise ConfigError("--matrix-id: a Matrix id looks like @name:server")
    if lang is not None and lang not in ("ja", "en"):
        raise ConfigError("--lang: ja or en")
    with store.write() as conn:
        if conn.execute(sa.select(users.c.name).where(users.c.name == name)).first() is None:
            raise NotFoundError(f"no user {name!r}")
        row = conn.execute(sa.select(user_contacts).where(user_contacts.c.user_name == name)).first()
        now = Contact(
            name,
            email if email is not None else (row.email if row else ""),
            matrix_id if matrix_id is not None else (row.matrix_id if row else ""),
            lang if lang is not None else (row.lang if row else "ja"),
        )
        values = {"email": now.email, "matrix_id": now.matrix_id, "lang": now.lang, "updated_at": time.time()}
        if row is None:
            conn.execute(user_contacts.insert().values(user_name=name, **values))
        else:
            conn.execute(user_contacts.update().where(user_contacts.c.user_name == name).values(**values))
        what = ", ".join(k for k, v in (("email", email), ("matrix", matrix_id), ("lang", lang)) if v is not None)
        audit.append(conn, [AuditEntry("user.contact", "", f"user:{name}", what, actor=actor)])
    return now


def contacts(store: Store) -> dict[str, Contact]:
    with store.read() as conn:
        rows = conn.execute(sa.select(user_contacts)).all()
    return {r.user_name: Contact(r.user_name, r.email, r.matrix_id, r.lang) for r in rows}


# -- what waits for whom ----------------------------------------------------------------------------
def collect(engine: Engine, people: list[User], langs: dict[str, str]) -> list[Digest]:
    """One digest per person (empty ones included), from every built-in timeline and the store."""
    digests = {u.name: Digest(u, langs.get(u.name, "ja")) for u in people}
    for name, conn_cfg in engine.config.connectors.items():
        if conn_cfg.type != "builtin":
            continue
        timeline = engine.connector(name)
        for d in digests.values():
            for group in timeline.list_groups(d.user.name):
                if group.get("unread"):
                    d.unread += int(group["unread"])
                    d.unread_patients.append(str(group["patient_id"]))
    deciders = [d for d in digests.values() if d.user.may("approvals.decide")]
    if deciders:
        held = messages.c.state == MessageState.AWAITING_APPROVAL.value
        with engine.store.read() as conn:
            rows = conn.execute(
                sa.select(messages.c.patient_id, sa.func.count()).where(held).group_by(messages.c.patient_id)
                .order_by(sa.func.min(messages.c.id))
            ).all()  # fmt: skip
        for d in deciders:
            d.waiting = sum(n for _, n in rows)
            d.waiting_patients = [pid for pid, _ in rows]
    return list(digests.values())


# -- the words ---------------------------------------------------------------------------------------
def render(digest: Digest, cfg: NotificationsConfig, names: dict[str, str]) -> tuple[str, str]:
    """(subject, body) in the person's language. Numbers and the link; names only with detail: patients."""
    ja = digest.lang != "en"
    subject = (
        f"[renkei] 未読 {digest.unread} 件・承認待ち {digest.waiting} 件"
        if ja
        else f"[renkei] {digest.unread} unread, {digest.waiting} awaiting approval"
    )
    who = digest.user.display_name or digest.user.name
    lines = [f"{who} さん" if ja else f"Hello {who},", ""]
    if digest.unread:
        n = len(digest.unread_patients)
        lines.append(
            f"未読の投稿が {digest.unread} 件あります（患者 {n} 名）。"
            if ja
            else f"{digest.unread} posts are unread, on {n} patients' timelines."
        )
        lines += _names(digest.unread_patients, names, cfg)
    if digest.waiting:
        n = len(digest.waiting_patients)
        lines.append(
            f"医師の承認を待っている項目が {digest.waiting} 件あります（患者 {n} 名）。"
            if ja
            else f"{digest.waiting} items await a physician's approval ({n} patients)."
        )
        lines += _names(digest.waiting_patients, names, cfg)
    lines += ["", ("確認する: " if ja else "Open renkei: ") + cfg.console_url, ""]
    lines.append(
        "このお知らせには、投稿の内容を含めていません。" if ja else "This notice does not contain what was posted."
    )
    return subject, "\n".join(lines) + "\n"


def _names(patient_ids: list[str], names: dict[str, str], cfg: NotificationsConfig) -> list[str]:
    if cfg.detail != "patients":
        return []
    return [f"  ・{names.get(pid) or pid}" for pid in patient_ids]


# -- sending -------------------------------------------------------------------------------------------
def period_of(now: float, timezone: str) -> str:
    return datetime.fromtimestamp(now, ZoneInfo(timezone)).date().isoformat()


def send_digests(
    engine: Engine, *, now: float | None = None, only: str | None = None, dry_run: bool = False, actor: str = ""
) -> tuple[DigestReport, list[tuple[Digest, str, str]]]:
    """Send today's digests (site time) to everyone with something waiting and a contact; a report of
    what was sent, skipped and failed, and (for --dry-run) the texts it would send."""
    cfg = engine.config.notifications
    if cfg is None:
        raise ConfigError("notifications: not configured (see docs/notifications.md)")
    now = time.time() if now is None else now
    period = period_of(now, engine.config.timezone)
    people = [u for u in People(engine.store).list() if not u.disabled and (only is None or u.name == only)]
    if only is not None and not people:
        raise NotFoundError(f"no active user {only!r}")
    book = contacts(engine.store)
    digests = collect(engine, people, {n: c.lang for n, c in book.items()})
    names = _patient_names(engine, digests) if cfg.detail == "patients" else {}
    done = _already_sent(engine.store, period)
    report, texts = DigestReport(), []
    senders: dict[str, Any] = {}
    for d in digests:
        contact = book.get(d.user.name, Contact(d.user.name))
        subject, body = render(d, cfg, names)
        for channel, address in (("email", contact.email), ("matrix", contact.matrix_id)):
            why = _skip_reason(d, channel, address, cfg, (d.user.name, channel) in done)
            if why:
                report.skipped.append((d.user.name, channel, why))
                continue
            if dry_run:
                texts.append((d, subject, body))
                continue
            key = f"digest:{d.user.name}:{period}:{channel}"
            try:
                _send(engine, senders, channel, address, subject, body, key)
            except DeliveryError as exc:  # one person's failure never stops the others; tomorrow tries again
                report.failed.append((d.user.name, channel, str(exc)))
                engine.store.audit([AuditEntry("digest.failed", "", f"user:{d.user.name}", f"{channel}: {exc}",
                                               actor=actor)])  # fmt: skip
                continue
            _record(engine.store, d, period, channel, actor)
            report.sent.append((d.user.name, channel))
    return report, texts


def _skip_reason(d: Digest, channel: str, address: str, cfg: NotificationsConfig, sent: bool) -> str:
    if d.empty:
        return "nothing waiting"
    if not address:
        return f"no {channel} contact"
    if (channel == "email" and cfg.email is None) or (channel == "matrix" and cfg.matrix is None):
        return f"notifications.{channel} not configured"
    if sent:
        return "already sent today"
    return ""


def _send(engine: Engine, senders: dict[str, Any], channel: str, address: str, subject: str, body: str,
          key: str) -> None:  # fmt: skip
    cfg = engine.config.notifications
    assert cfg is not None
    if channel == "email":
        from renkei.connectors.smtp import MailSender

        assert cfg.email is not None
        sender = senders.setdefault("email", MailSender(cfg.email))
        sender.send(address, subject, body, message_id=key.replace(":", "."))
    else:
        assert cfg.matrix is not None
        engine.connector(cfg.matrix.connector).notify(address, f"{subject}\n\n{body}", key)


def _record(store: Store, d: Digest, period: str, channel: str, actor: str) -> None:
    counts = d.counts()
    with store.write() as conn:
        conn.execute(
            digests_sent.insert().values(
                user_name=d.user.name, period=period, channel=channel, sent_at=time.time(), counts=counts
            )
        )
        detail = f"{channel} {period}: unread {counts['unread']}, waiting {counts['waiting']}"
        audit.append(conn, [AuditEntry("digest.sent", "", f"user:{d.user.name}", detail, actor=actor)])


def _already_sent(store: Store, period: str) -> set[tuple[str, str]]:
    with store.read() as conn:
        rows = conn.execute(
            sa.select(digests_sent.c.user_name, digests_sent.c.channel).where(digests_sent.c.period == period)
        ).all()
    return {(r.user_name, r.channel) for r in rows}


def _patient_names(engine: Engine, digests: list[Digest]) -> dict[str, str]:
    ids = sorted({pid for d in digests for pid in (*d.unread_patients, *d.waiting_patients)})
    basics = engine.store.patient_basics(ids)
    return {pid: str((basics.get(pid) or {}).get("name_kanji") or "") for pid in ids}
