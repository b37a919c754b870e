"""A small local web page of the built-in timelines, served on 127.0.0.1 only (`renkei demo`).

Read-only: the patient list (newest activity first, with post counts) and each patient's timeline.
Every page that shows a patient's posts is audited like any other read. Standard library only: this is a
demo console, not the product's web front end.
"""

from __future__ import annotations

import html
import re
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


def make_handler(data_dir: Path) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
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


def serve(data_dir: Path, port: int) -> None:
    server = ThreadingHTTPServer(("127.0.0.1", port), make_handler(data_dir))
    click.echo(f"serving the timelines on http://127.0.0.1:{server.server_port}/ (Ctrl-C to stop)")
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        click.echo("stopped")
    finally:
        server.server_close()
