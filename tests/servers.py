"""A real uvicorn server on a free loopback port, for tests that must cross TCP."""

import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import httpx2 as httpx
import uvicorn

from asteri.http.client import UVICORN_OPTIONS


@contextmanager
def serving(app: Any) -> Iterator[str]:
    """Run ``app`` in a thread until the block ends; yield its base URL."""
    config = uvicorn.Config(app, host="127.0.0.1", port=0, log_level="warning", **UVICORN_OPTIONS)
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not server.started:
        assert time.monotonic() < deadline, "uvicorn did not start"
        time.sleep(0.02)
    port = server.servers[0].sockets[0].getsockname()[1]
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=10)


def at_once(
    base_url: str, requests: list[tuple[str, str, dict[str, Any] | bytes, dict[str, str]]]
) -> list[httpx.Response]:
    """Send each (method, path, body, headers) on its own connection, all released at one
    moment (real concurrent transactions); the responses, in the order they came back. A
    dict body is sent as JSON, bytes as they are."""
    barrier = threading.Barrier(len(requests))
    responses: list[httpx.Response] = []
    lock = threading.Lock()

    def send(method: str, path: str, body: dict[str, Any] | bytes, headers: dict[str, str]) -> None:
        sent = {"content": body} if isinstance(body, bytes) else {"json": body}
        with httpx.Client(base_url=base_url, timeout=30) as http:
            barrier.wait()
            response = http.request(method, path, headers=headers, **sent)
        with lock:
            responses.append(response)

    threads = [threading.Thread(target=send, args=request) for request in requests]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert len(responses) == len(requests), "a request did not come back"
    return responses
