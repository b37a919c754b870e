"""A small local web page of the built-in timelines, served on 127.0.0.1 only (`renkei demo`).

Read-only: the patient list (newest activity first, with post counts) and each patient's timeline.
Every page that shows a patient's posts is audited like any other read. Standard library only: this is a
demo console, not the product's web front end.

Listening on 127.0.0.1 is not enough: a web page elsewhere can point its own DNS name at 127.0.0.1 (DNS
rebinding) and read this page from the user's browser. So a request must name this server in its Host
header: 127.0.0.1, localhost or [::1] with the port, or a name given with `--allow-host`; any other Host
gets 421 Misdirected Request, none at all 400.
"""

from __future__ import annotations

import html
import re
from collections.abc import Sequence
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import click

from renkei.connectors.builtin_timeline import BuiltinTimeline
from renkei.errors import NotFoundError
from renkei.pipelines.audit import AuditEntry
from renkei.pipelines.store import Store

_STYLE = """
body{font-family:system-ui,"Hiragino Sans","Noto Sans JP",sans-serif;margin:2rem;max-width:46rem;color:#222}
a{color:#0b5cad}.post{border:1px solid #ddd;border-radius:8px;padding:.7rem 1rem;margin:.8rem 0;white-space:pre-wrap}
.meta{color:#777;font-size:.85rem}.tag{background:#eef;border-radius:4px;padding:0 .3rem;margin-right:.3rem}
.old{opacity:.5}
"""


def _page(title: str, body: str) -> bytes:
    return (
        f'<!doctype html><html lang="ja"><meta charset="utf-8"><title>{html.escape(title)}</title>'
        f"<style>{_STYLE}</style><body><h1>{html.escape(title)}</h1>{body}</body></html>"
    ).encode()


LOCAL_NAMES = ("127.0.0.1", "localhost", "[::1]")


def allowed_hosts(port: int, extra: Sequence[str] = ()) -> frozenset[str]:
    """Host header values this server answers to (lower case): every name with the port, and without it
    on port 80 (where browsers leave it out). A name in `extra` may carry its own port."""
    names: set[str] = set()
    for name in (*LOCAL_NAMES, *extra):
        name = name.strip().lower()
        if not name:
            continue
        if re.fullmatch(r".+:\d+", name) and not name.endswith("]"):
            names.add(name)
            continue
        names.add(f"{name}:{port}")
        if port == 80:
            names.add(name)
    return frozenset(names)


def make_handler(data_dir: Path, hosts: frozenset[str] = allowed_hosts(8765)) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            host = self.headers.get("Host")
            if host is None:
                self._send(HTTPStatus.BAD_REQUEST, _page("Bad request", "no Host header"))
                return
            if host.strip().lower() not in hosts:
                self._send(HTTPStatus.MISDIRECTED_REQUEST, _page("Misdirected request", "unknown Host"))
                return
            tl = BuiltinTimeline.open(data_dir)
            store = Store.in_data_dir(data_dir)
            try:
                if self.path == "/":
                    self._send(HTTPStatus.OK, self._index(tl, store))
                elif m := re.fullmatch(r"/patients/([A-Za-z0-9_-]{1,64})", self.path):
                    self._send(HTTPStatus.OK, self._patient(tl, store, m.group(1)))
                else:
                    self._send(HTTPStatus.NOT_FOUND, _page("Not found", ""))
            except NotFoundError as exc:
                self._send(HTTPStatus.NOT_FOUND, _page("Not found", html.escape(str(exc))))
            finally:
                tl.close()
                store.close()

        def _index(self, tl: BuiltinTimeline, store: Store) -> bytes:
            groups = tl.list_groups()
            names = store.patient_basics([g["patient_id"] for g in groups])
            store.audit([AuditEntry("web.patient_list", "", "timeline", f"{len(groups)} patients")])
            items = "".join(
                f'<li><a href="/patients/{html.escape(g["patient_id"])}">{html.escape(g["patient_id"])}</a> '
                f"{html.escape(names.get(g['patient_id'], {}).get('name_kanji', ''))} · {g['posts']} posts</li>"
                for g in groups
            )
            return _page("renkei · 患者タイムライン", f"<ul>{items}</ul>")

        def _patient(self, tl: BuiltinTimeline, store: Store, patient_id: str) -> bytes:
            gid = tl.group_for_patient(patient_id)
            posts = tl.read(gid)
            store.audit([AuditEntry("web.timeline_read", patient_id, f"timeline-group:{gid}", "")])
            name = store.patient_basics([patient_id]).get(patient_id, {}).get("name_kanji", "")
            body = f'<p><a href="/">← 患者一覧</a> · members: {html.escape(", ".join(tl.members_of(gid)))}</p>'
            for p in reversed(posts):  # newest first
                old = p["retracted"] or p["replaced_by"]
                tags = "".join(f'<span class="tag">□{html.escape(t)}</span>' for t in p["tags"])
                note = " (取り消し)" if p["retracted"] else (" (更新済み)" if p["replaced_by"] else "")
                body += (
                    f'<div class="post{" old" if old else ""}"><div class="meta">#{p["id"]} {html.escape(p["author"])}'
                    f"{note}</div>{html.escape(p['text'])}<div>{tags}</div></div>"
                )
            return _page(f"{patient_id} {name}", body)

        def _send(self, status: HTTPStatus, body: bytes) -> None:
            self.send_response(status)
            self.send_header("Content-Type", "text/html; charset=utf-8")
            self.send_header("Content-Length", str(len(body)))
            self.send_header("Cache-Control", "no-store")
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: object) -> None:
            pass  # request lines carry patient ids; the audit log records every read instead

    return Handler


def serve(data_dir: Path, port: int, extra_hosts: Sequence[str] = ()) -> None:
    server = ThreadingHTTPServer(("127.0.0.1", port), make_handler(data_dir, allowed_hosts(port, extra_hosts)))
    if port == 0:  # an ephemeral port: the names must carry the real one
        server.RequestHandlerClass = make_handler(data_dir, allowed_hosts(server.server_port, extra_hosts))
    click.echo(f"serving the timelines on http://127.0.0.1:{server.server_port}/ (Ctrl-C to stop)")
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        click.echo("stopped")
    finally:
        server.server_close()
