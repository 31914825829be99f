"""A real local HTTP server that plays an SMS gateway keeping its promise
on the Idempotency-Key: a reference it has delivered is never delivered
again, whatever became of the answer to the first request.

Each request takes the next reply of the script (200 once it runs out):
`DELIVER_THEN_STALL` delivers the text and then answers nothing until the
client has given up (the hard case: sent, but the sender cannot know);
`GARBAGE` delivers nothing and answers a line that is not HTTP; a status
code is answered as it is, delivering only on 2xx.
"""

import json
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

DELIVER_THEN_STALL = -1
GARBAGE = -2


@dataclass
class Request:
    at: float
    reference: str
    idempotency_key: str
    to: str
    text: str


@dataclass
class Gateway:
    url: str = ""
    script: list[int] = field(default_factory=list)
    stall_seconds: float = 2.0
    requests: list[Request] = field(default_factory=list)
    # What reached a phone: one entry per text delivered.
    delivered: list[str] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def deliver(self, request: Request) -> None:
        with self.lock:
            if request.idempotency_key not in self.delivered:
                self.delivered.append(request.idempotency_key)


def _handler(gateway: Gateway) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
            request = Request(
                at=time.monotonic(),
                reference=body["reference"],
                idempotency_key=self.headers["Idempotency-Key"],
                to=body["to"],
                text=body["text"],
            )
            with gateway.lock:
                gateway.requests.append(request)
                reply = gateway.script.pop(0) if gateway.script else 200
            if reply == DELIVER_THEN_STALL:
                gateway.deliver(request)
                time.sleep(gateway.stall_seconds)
                return
            if reply == GARBAGE:
                self.wfile.write(b"NOT-HTTP\r\n\r\n")
                return
            if 200 <= reply < 300:
                gateway.deliver(request)
            self.send_response(reply)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", "2")
            self.end_headers()
            self.wfile.write(b"{}")

        def log_message(self, format: str, *args: Any) -> None:
            return None

    return Handler


@contextmanager
def running_gateway(script: list[int]) -> Iterator[Gateway]:
    gateway = Gateway(script=list(script))
    server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(gateway))
    server.daemon_threads = True
    gateway.url = f"http://127.0.0.1:{server.server_address[1]}/sms"
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield gateway
    finally:
        server.shutdown()
        server.server_close()
