"""A real HTTP receiver on a loopback port, for the webhook tests: it records every request
it gets and answers as the test tells it (a status, headers, a body, a delay)."""

import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import orjson


@dataclass(frozen=True)
class Received:
    path: str
    headers: dict[str, str]
    body: bytes
    at: float = field(default_factory=time.time)  # wall clock, as the database's timestamps

    @property
    def json(self) -> Any:
        return orjson.loads(self.body)

    @property
    def message_id(self) -> str:
        return self.headers["webhook-id"]


@dataclass
class Answer:
    status: int = 200
    headers: dict[str, str] = field(default_factory=dict)
    body: bytes = b"ok"
    delay: float = 0.0


@dataclass
class Receiver:
    """``answer`` decides each response from the request (default: 200 ``ok``)."""

    url: str
    received: list[Received] = field(default_factory=list)
    answer: Callable[[Received], Answer] = lambda _r: Answer()
    lock: threading.Lock = field(default_factory=threading.Lock)
    answering: int = 0  # requests received and not yet answered (in flight)

    def wait_for(self, count: int, timeout: float = 20.0) -> list[Received]:
        return self.wait_until(lambda got: len(got) >= count, f"{count} requests", timeout)

    def wait_until(
        self, done: Callable[[list[Received]], bool], what: str, timeout: float = 20.0
    ) -> list[Received]:
        """What was received once ``done`` holds for it (checked under the lock, so
        ``answering`` is consistent with it); fails after ``timeout`` seconds."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with self.lock:
                if done(self.received):
                    return list(self.received)
            time.sleep(0.01)
        raise AssertionError(f"the receiver got {len(self.received)} requests, never {what}")

    def message_ids(self) -> set[str]:
        with self.lock:
            return {r.message_id for r in self.received}

    def clear(self) -> None:
        with self.lock:
            self.received.clear()


@contextmanager
def receiving(path: str = "/hooks") -> Iterator[Receiver]:
    """A ThreadingHTTPServer on 127.0.0.1 until the block ends."""
    receiver: Receiver

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def do_POST(self) -> None:
            length = int(self.headers.get("content-length") or 0)
            got = Received(
                self.path, {k.lower(): v for k, v in self.headers.items()}, self.rfile.read(length)
            )
            with receiver.lock:
                receiver.received.append(got)
                receiver.answering += 1
            try:
                self._answer(receiver.answer(got))
            finally:
                with receiver.lock:
                    receiver.answering -= 1

        def _answer(self, answer: Answer) -> None:
            if answer.delay:
                time.sleep(answer.delay)
            try:
                self.send_response(answer.status)
                for name, value in answer.headers.items():
                    self.send_header(name, value)
                self.send_header("content-length", str(len(answer.body)))
                self.end_headers()
                self.wfile.write(answer.body)
            except (BrokenPipeError, ConnectionResetError):  # the worker gave up waiting
                pass

        def log_message(self, format: str, *args: Any) -> None:
            """Quiet: the tests assert on what was received, not on a log."""

    class Server(ThreadingHTTPServer):
        request_queue_size = 256  # a worker opens up to 64 connections at once

    server = Server(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    receiver = Receiver(url=f"http://127.0.0.1:{server.server_address[1]}{path}")
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield receiver
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=10)
