"""The worker's transport still notices an idle connection the receiver closed."""

import asyncio

import httpx2 as httpx

from asteri.webhooks.transport import WebhookTransport


async def _twice() -> tuple[int, int, int]:
    """Two POSTs on one client to a receiver that closes each connection after answering
    (keep-alive as far as the headers say): statuses, and how many connections it saw."""
    connections = 0

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        nonlocal connections
        connections += 1
        head = await reader.readuntil(b"\r\n\r\n")
        length = next(
            int(line.split(b":", 1)[1])
            for line in head.split(b"\r\n")
            if line.lower().startswith(b"content-length:")
        )
        await reader.readexactly(length)
        writer.write(b"HTTP/1.1 200 OK\r\ncontent-length: 0\r\n\r\n")
        await writer.drain()
        writer.close()

    server = await asyncio.start_server(handle, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    transport = WebhookTransport(httpx.Limits(max_connections=4))
    async with server, httpx.AsyncClient(transport=transport, timeout=5) as client:
        first = await client.post(f"http://127.0.0.1:{port}/", content=b"{}")
        await asyncio.sleep(0.2)  # the close has reached us: the idle connection is readable
        second = await client.post(f"http://127.0.0.1:{port}/", content=b"{}")
    return first.status_code, second.status_code, connections


def test_a_connection_the_receiver_closed_is_not_reused() -> None:
    assert asyncio.run(_twice()) == (200, 200, 2)
