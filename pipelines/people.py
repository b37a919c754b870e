"""renkei's people: users, roles, what each role may do, logins and console sessions.

One service for the CLI and the web console, so a role means the same thing in both. Passwords are
argon2id hashes (argon2-cffi); repeated failures lock the account for a while; every login, refusal and
change is audited with the user's name as the actor.

Roles (a user may hold several):
    admin      clinic IT staff: pipelines, messages, users, devices
    physician  approvals, timelines of their patients
    nurse      timelines, the tap station, light push
    care       reads timelines of their patients
    auditor    the audit log
"""

from __future__ import annotations

import hashlib
import secrets
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import sqlalchemy as sa
from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

from renkei.errors import ConfigError, NotFoundError, RefusedError
from renkei.pipelines import audit
from renkei.pipelines.audit import AuditEntry
from renkei.pipelines.schema import users, web_sessions

if TYPE_CHECKING:
    from renkei.pipelines.store import Store

ROLES = ("admin", "physician", "nurse", "care", "auditor")

# What each permission needs: any one of these roles.
PERMISSIONS: dict[str, frozenset[str]] = {
    "dashboard.view": frozenset({"admin", "physician", "nurse", "auditor"}),
    "messages.view": frozenset({"admin"}),
    "messages.reprocess": frozenset({"admin"}),
    "approvals.decide": frozenset({"physician"}),
    "patients.view": frozenset({"admin", "physician", "nurse"}),
    "patients.edit": frozenset({"admin"}),
    "teams.view": frozenset({"admin", "physician", "nurse"}),
    "teams.manage": frozenset({"admin", "physician"}),  # a patient's care team (pipelines/teams.py)
    "vitals.view": frozenset({"physician"}),
    "timelines.view": frozenset({"admin", "physician", "nurse", "care"}),
    "push": frozenset({"physician", "nurse"}),
    "timelines.reply": frozenset({"physician", "nurse", "care"}),
    "tapstation.use": frozenset({"nurse"}),
    "users.manage": frozenset({"admin"}),
    "devices.manage": frozenset({"admin"}),
    "audit.view": frozenset({"admin", "auditor"}),
}

MAX_FAILED_LOGINS = 5
LOCKOUT_SECONDS = 15 * 60
SESSION_IDLE_SECONDS = 15 * 60
MIN_PASSWORD_LENGTH = 10
_REFUSED_LOGIN = "ユーザー名またはパスワードが違います / wrong user name or password"

_hasher = PasswordHasher()  # argon2id with the library's current recommended parameters


@dataclass(slots=True, frozen=True)
class User:
    name: str
    display_name: str
    roles: tuple[str, ...]
    disabled: bool = False

    def may(self, permission: str) -> bool:
        return bool(PERMISSIONS[permission] & set(self.roles))


@dataclass(slots=True)
class WebSession:
    user: User
    csrf_token: str
    lang: str = "ja"
    token_hash: str = field(default="", repr=False)


def _token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def _check_roles(roles: Iterable[str]) -> tuple[str, ...]:
    roles = tuple(dict.fromkeys(roles))
    unknown = [r for r in roles if r not in ROLES]
    if unknown or not roles:
        raise ConfigError(f"roles must be among {', '.join(ROLES)} (got {', '.join(unknown) or 'none'})")
    return roles


def _check_password(password: str) -> None:
    if len(password) < MIN_PASSWORD_LENGTH:
        raise ConfigError(f"a password needs at least {MIN_PASSWORD_LENGTH} characters")


class People:
    """Users and sessions on the store's database (`store.write()` / `store.read()` transactions)."""

    def __init__(self, store: Store) -> None:
        self.store = store

    # -- users ------------------------------------------------------------------------------------
    def add(self, name: str, roles: Iterable[str], password: str, display_name: str = "", actor: str = "") -> User:
        roles = _check_roles(roles)
        _check_password(password)
        now = time.time()
        with self.store.write() as conn:
            if conn.execute(sa.select(users.c.name).where(users.c.name == name)).first():
                raise RefusedError(f"user {name!r} exists already")
            conn.execute(
                users.insert().values(
                    name=name, display_name=display_name, roles=list(roles), password_hash=_hasher.hash(password),
                    disabled=False, failed_logins=0, created_at=now, password_changed_at=now,
                )
            )  # fmt: skip
            self._audit(conn, actor, "user.add", name, "roles " + ",".join(roles))
        return User(name, display_name, roles)

    def set_password(self, name: str, password: str, actor: str = "") -> None:
        _check_password(password)
        with self.store.write() as conn:
            self._require_row(conn, name)
            conn.execute(
                users.update()
                .where(users.c.name == name)
                .values(password_hash=_hasher.hash(password), password_changed_at=time.time(), failed_logins=0,
                        locked_until=None)
            )  # fmt: skip
            conn.execute(web_sessions.delete().where(web_sessions.c.user_name == name))
            self._audit(conn, actor, "user.passwd", name)

    def set_disabled(self, name: str, disabled: bool = True, actor: str = "") -> None:
        with self.store.write() as conn:
            self._require_row(conn, name)
            conn.execute(users.update().where(users.c.name == name).values(disabled=disabled))
            if disabled:
                conn.execute(web_sessions.delete().where(web_sessions.c.user_name == name))
            self._audit(conn, actor, "user.disable" if disabled else "user.enable", name)

    def list(self) -> list[User]:
        with self.store.read() as conn:
            rows = conn.execute(sa.select(users).order_by(users.c.name)).all()
        return [User(r.name, r.display_name, tuple(r.roles), bool(r.disabled)) for r in rows]

    def get(self, name: str) -> User:
        with self.store.read() as conn:
            row = self._require_row(conn, name)
        return User(row.name, row.display_name, tuple(row.roles), bool(row.disabled))

    def any(self) -> bool:
        with self.store.read() as conn:
            return conn.execute(sa.select(users.c.name).limit(1)).first() is not None

    # -- authentication ---------------------------------------------------------------------------
    def authenticate(self, name: str, password: str, channel: str = "cli") -> User:
        """The user, or RefusedError with one message for unknown names and wrong passwords alike (so
        the answer does not tell which user names exist); lock-out and disabled accounts say so.
        The refusal is raised after its transaction commits, so the audit entry and the failure count stay."""
        with self.store.write() as conn:
            user, refusal = self._check_login(conn, name, password, channel)
        if refusal:
            raise RefusedError(refusal)
        assert user is not None
        return user

    def _check_login(self, conn: sa.Connection, name: str, password: str, channel: str) -> tuple[User | None, str]:
        now = time.time()
        row = conn.execute(sa.select(users).where(users.c.name == name)).first()
        if row is None:
            self._audit(conn, name, "login.refused", name, f"{channel}: unknown user")
            return None, _REFUSED_LOGIN
        if row.disabled:
            self._audit(conn, name, "login.refused", name, f"{channel}: disabled")
            return None, "このアカウントは無効です / this account is disabled"
        if row.locked_until and row.locked_until > now:
            self._audit(conn, name, "login.refused", name, f"{channel}: locked")
            minutes = max(1, round((row.locked_until - now) / 60))
            return None, (
                f"ログインが続けて失敗したため {minutes} 分間ロックされています / "
                f"locked after repeated failures; try again in {minutes} min"
            )
        try:
            _hasher.verify(row.password_hash, password)
        except (VerificationError, InvalidHashError):
            failed = row.failed_logins + 1
            locked = now + LOCKOUT_SECONDS if failed >= MAX_FAILED_LOGINS else None
            conn.execute(
                users.update()
                .where(users.c.name == name)
                .values(failed_logins=0 if locked else failed, locked_until=locked)
            )
            self._audit(
                conn, name, "login.refused", name, f"{channel}: wrong password" + (", locked" if locked else "")
            )
            return None, _REFUSED_LOGIN
        values: dict[str, object] = {"failed_logins": 0, "locked_until": None}
        if _hasher.check_needs_rehash(row.password_hash):
            values["password_hash"] = _hasher.hash(password)
        conn.execute(users.update().where(users.c.name == name).values(**values))
        self._audit(conn, name, "login", name, channel)
        return User(row.name, row.display_name, tuple(row.roles)), ""

    def require(self, user: User, permission: str, what: str = "") -> None:
        """Refuse (audited) unless the user's roles allow `permission`."""
        if user.may(permission):
            return
        self.audit_refusal(user.name, f"{permission} {what}".strip())
        needed = " or ".join(sorted(PERMISSIONS[permission]))
        raise RefusedError(f"この操作には {needed} の役割が必要です / this needs the {needed} role")

    def audit_refusal(self, actor: str, detail: str) -> None:
        with self.store.write() as conn:
            self._audit(conn, actor, "access.refused", "", detail)

    # -- console sessions -------------------------------------------------------------------------
    def open_session(self, user: User, lang: str = "ja") -> tuple[str, WebSession]:
        token = secrets.token_urlsafe(32)
        csrf = secrets.token_urlsafe(32)
        now = time.time()
        with self.store.write() as conn:
            conn.execute(
                web_sessions.insert().values(
                    token_hash=_token_hash(token), user_name=user.name, csrf_token=csrf, created_at=now,
                    last_seen_at=now, lang=lang,
                )
            )  # fmt: skip
        return token, WebSession(user, csrf, lang, _token_hash(token))

    def session(self, token: str, idle_seconds: float = SESSION_IDLE_SECONDS, touch: bool = True) -> WebSession | None:
        """The live session for a cookie's token, touched (unless `touch` is False: a page's own polling is
        not a person's activity); None when unknown, idle too long or disabled."""
        if not token:
            return None
        now = time.time()
        key = _token_hash(token)
        with self.store.write(redoable=True) as conn:
            row = conn.execute(
                sa.select(web_sessions, users.c.display_name, users.c.roles, users.c.disabled)
                .join(users, users.c.name == web_sessions.c.user_name)
                .where(web_sessions.c.token_hash == key)
            ).first()
            if row is None:
                return None
            if row.disabled or now - row.last_seen_at > idle_seconds:
                conn.execute(web_sessions.delete().where(web_sessions.c.token_hash == key))
                self._audit(conn, row.user_name, "logout", row.user_name, "session expired")
                return None
            if touch:
                conn.execute(web_sessions.update().where(web_sessions.c.token_hash == key).values(last_seen_at=now))
        user = User(row.user_name, row.display_name, tuple(row.roles))
        return WebSession(user, row.csrf_token, row.lang, key)

    def set_lang(self, session: WebSession, lang: str) -> None:
        with self.store.write(redoable=True) as conn:
            conn.execute(web_sessions.update().where(web_sessions.c.token_hash == session.token_hash).values(lang=lang))

    def close_session(self, session: WebSession) -> None:
        with self.store.write() as conn:
            conn.execute(web_sessions.delete().where(web_sessions.c.token_hash == session.token_hash))
            self._audit(conn, session.user.name, "logout", session.user.name)

    # -- helpers ----------------------------------------------------------------------------------
    @staticmethod
    def _require_row(conn: sa.Connection, name: str) -> sa.Row:
        row = conn.execute(sa.select(users).where(users.c.name == name)).first()
        if row is None:
            raise NotFoundError(f"no user {name!r}")
        return row

    @staticmethod
    def _audit(conn: sa.Connection, actor: str, action: str, subject: str, detail: str = "") -> None:
        audit.append(conn, [AuditEntry(action, "", f"user:{subject}", detail, actor=actor or "")])
