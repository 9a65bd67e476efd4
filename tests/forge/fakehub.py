"""A scriptable stand-in for the GitHub API on 127.0.0.1:0, for forge unit tests.

Each route is (method, path) -> a list of scripted answers, served in order (the
last one repeats). An answer is ``(status, headers, body)`` or the string
``"drop"`` (close the connection without answering) or ``("sleep", s, answer)``.
Every request is logged with its headers, so tests can check what was sent.
"""

from __future__ import annotations

import json
import socket
import threading
import time
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlparse

Answer = Any


class FakeHub:
    def __init__(self) -> None:
        self.routes: dict[tuple[str, str], list[Answer]] = {}
        self.handlers: dict[tuple[str, str], Callable[[dict[str, Any]], Answer]] = {}
        self.log: list[dict[str, Any]] = []
        self._lock = threading.Lock()
        hub = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args: object) -> None:
                pass

            def setup(self) -> None:
                super().setup()
                # headers and body go out in two writes: without this, Nagle's
                # algorithm and delayed ACKs add ~40 ms to every request
                self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

            def _serve(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                raw = self.rfile.read(length) if length else b""
                parsed = urlparse(self.path)
                entry = {"method": self.command, "path": parsed.path,
                         "query": {k: v[0] for k, v in parse_qs(parsed.query).items()},
                         "headers": {k.lower(): v for k, v in self.headers.items()},
                         "body": json.loads(raw) if raw else None}
                with hub._lock:
                    hub.log.append(entry)
                answer = hub._answer(entry)
                if isinstance(answer, tuple) and answer and answer[0] == "sleep":
                    time.sleep(answer[1])
                    answer = answer[2]
                if answer == "drop":
                    self.close_connection = True
                    self.connection.shutdown(2)
                    return
                status, headers, body = answer
                data = b"" if body is None else (
                    body.encode() if isinstance(body, str) else json.dumps(body).encode())
                self.send_response_only(status)
                base = {"Content-Type": "application/json", "Date": self.date_time_string(),
                        "x-ratelimit-limit": "5000", "x-ratelimit-remaining": "4999",
                        "x-ratelimit-reset": str(int(time.time()) + 3600),
                        "x-ratelimit-resource": "core"}
                base.update(headers)
                for k, v in base.items():
                    self.send_header(k, v)
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            do_GET = do_POST = do_PATCH = do_PUT = do_DELETE = _serve

        class Server(ThreadingHTTPServer):
            daemon_threads = True

            def handle_error(self, request: Any, client_address: Any) -> None:
                pass  # a client that timed out and left: expected in these tests

        self.server = Server(("127.0.0.1", 0), Handler)
        self.base_url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self._thread = threading.Thread(target=self.server.serve_forever,
                                        kwargs={"poll_interval": 0.02}, daemon=True)

    def start(self) -> FakeHub:
        self._thread.start()
        return self

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()

    def add(self, method: str, path: str, *answers: Answer) -> None:
        self.routes[(method, path)] = list(answers)

    def handle(self, method: str, path: str, fn: Callable[[dict[str, Any]], Answer]) -> None:
        self.handlers[(method, path)] = fn

    def _answer(self, entry: dict[str, Any]) -> Answer:
        key = (entry["method"], entry["path"])
        if key in self.handlers:
            return self.handlers[key](entry)
        with self._lock:
            queue = self.routes.get(key)
            if not queue:
                return (404, {}, {"message": "Not Found"})
            return queue.pop(0) if len(queue) > 1 else queue[0]

    def calls(self, method: str | None = None, path: str | None = None) -> list[dict[str, Any]]:
        return [e for e in self.log if (method is None or e["method"] == method)
                and (path is None or e["path"] == path)]
