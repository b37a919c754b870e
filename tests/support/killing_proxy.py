"""An HTTP proxy for crash tests: forwards every request to a real server, and on the first request that
`trigger(method, path)` picks, lets the server process it, then runs `on_trigger()` (e.g. SIGKILL the
client's process) and drops the connection without an answer: the server did the work, the client never
heard. Later requests pass through unchanged."""

from __future__ import annotations

import threading
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import requests

_HOP = {"host", "content-length", "connection", "transfer-encoding", "accept-encoding"}


class KillingProxy:
    def __init__(self, upstream: str, trigger: Callable[[str, str], bool], on_trigger: Callable[[], None]) -> None:
        self.upstream = upstream.rstrip("/")
        self.triggered = threading.Event()
        self._fired = False
        self._lock = threading.Lock()
        self.forwarded: list[tuple[str, str, int]] = []
        proxy = self

        class Handler(BaseHTTPRequestHandler):
            def _forward(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                headers = {k: v for k, v in self.headers.items() if k.lower() not in _HOP}
                resp = requests.request(self.command, proxy.upstream + self.path, data=body, headers=headers,
                                        timeout=30)  # fmt: skip
                proxy.forwarded.append((self.command, self.path, resp.status_code))
                with proxy._lock:
                    fire = not proxy._fired and trigger(self.command, self.path)
                    proxy._fired = proxy._fired or fire
                if fire:
                    on_trigger()
                    proxy.triggered.set()  # only once on_trigger is done (e.g. the client is really dead)
                    self.close_connection = True
                    return  # no answer at all
                self.send_response(resp.status_code)
                for k, v in resp.headers.items():
                    if k.lower() not in _HOP and k.lower() != "content-encoding":
                        self.send_header(k, v)
                self.send_header("Content-Length", str(len(resp.content)))
                self.end_headers()
                self.wfile.write(resp.content)

            do_GET = do_POST = do_PUT = do_DELETE = _forward

            def log_message(self, format: str, *args: object) -> None:
                return

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self._server.server_address[1]}"
        threading.Thread(target=self._server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()
