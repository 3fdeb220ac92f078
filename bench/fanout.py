"""Live fan-out beside its floors, and memory per idle live connection (issue 17,
figures 4 and 5).

    scripts/bench fanout [--officers 1000 5000]

For each size, N clients hold a WebSocket and one message reaches all of them; measured:
from the moment the message is committed or published to the moment the last client
has it (p50 and the last), in the same run, on the same cores, with the same client:

1. Phikat: N officers on one ``phikat serve``; one SOS; ``incident.opened`` on every
   socket, timed from the SOS's 201 (the commit).
2. A bare ``websockets`` server in its own process: ``websockets.broadcast`` of a frame
   of the same size to N clients, timed from the trigger.
3. Debian's Mosquitto with a WebSockets listener, N aiomqtt subscribers, one
   publish (QoS 0), timed from the publish.

Memory: the serve process's resident set before and after N idle, authenticated live
sockets, per connection.
"""

import argparse
import asyncio
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

import aiomqtt
import httpx
from websockets.asyncio.client import connect
from websockets.asyncio.server import broadcast, serve

from bench.common import Server, free_port, percentile, scratch_database
from bench.live import SECRET, hello, seed, wait_for_event

# Debian's Mosquitto 2.0 serves WebSockets through libwebsockets: give it this long to take
# the subscribers (the whole benchmark has 15 min).
MOSQUITTO_LIMIT_S = 45
# Mosquitto 2.0.11 blocks in epoll_wait(100 ms) and polls the libwebsockets listener only
# once per turn of its loop, so a lone WebSocket connect (accept, then the HTTP upgrade)
# waits ~200 ms: one after the other, 1,000 subscribers need ~200 s. Connected this many at
# a time, the broker's loop never idles and 5,000 take a few seconds.
MOSQUITTO_CONNECT_BATCH = 500
FRAME = json.dumps({"event": "incident.opened", "data": {"x": "y" * 400}})


def rss_kib(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    raise RuntimeError("no VmRSS")


def line(name: str, delays_s: list[float]) -> str:
    ms = [d * 1000 for d in delays_s]
    return f"| {name} | {percentile(ms, 50):.0f} ms | {max(ms):.0f} ms |"


async def phikat(server: Server, officer: str, trigger: str, n: int) -> tuple[str, float]:
    before = rss_kib(server.proc.pid)
    sockets = [await hello(server.ws_url, officer) for _ in range(n)]
    await asyncio.sleep(2)
    per_socket = (rss_kib(server.proc.pid) - before) / n
    waiting = [asyncio.create_task(wait_for_event(ws, "incident.opened")) for ws in sockets]
    async with httpx.AsyncClient(base_url=server.base_url, timeout=60) as client:
        answer = await client.post(
            "/v1/sos",
            json={"trigger": "fall"},
            headers={"Authorization": f"Bearer {trigger}", "Idempotency-Key": str(uuid.uuid4())},
        )
        committed = time.perf_counter()
        assert answer.status_code == 201, answer.text
    arrivals = await asyncio.gather(*waiting)
    for ws in sockets:
        await ws.close()
    return line(f"Phikat, {n:,} officers", [t - committed for t in arrivals]), per_socket


async def bare_server(port: int) -> None:
    """Run as ``python -m bench.fanout --bare-server PORT``: broadcast on "go"."""
    clients = set()

    async def handler(ws) -> None:  # type: ignore[no-untyped-def]
        clients.add(ws)
        try:
            async for message in ws:
                if message == "go":
                    broadcast(clients, FRAME)
        finally:
            clients.discard(ws)

    # As phikat serve (PHIKAT_LIVE_COMPRESSION): per-message deflate only when it is on.
    deflate = os.environ.get("PHIKAT_LIVE_COMPRESSION", "false").lower() in ("1", "true")
    compression = "deflate" if deflate else None
    async with serve(handler, "127.0.0.1", port, max_queue=None, compression=compression):
        await asyncio.Future()


async def bare(n: int) -> tuple[str, float]:
    """The bare broadcast's fan-out, and its server's resident memory per idle socket."""
    port = free_port()
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "bench.fanout", "--bare-server", str(port)
    )
    try:
        for _ in range(100):
            try:
                trigger = await connect(f"ws://127.0.0.1:{port}")
                break
            except OSError:
                await asyncio.sleep(0.1)
        before = rss_kib(proc.pid)
        sockets = [await connect(f"ws://127.0.0.1:{port}", max_queue=None) for _ in range(n)]
        await asyncio.sleep(1)
        per_socket = (rss_kib(proc.pid) - before) / n
        waiting = [asyncio.create_task(ws.recv()) for ws in sockets]
        started = time.perf_counter()
        await trigger.send("go")

        async def stamp(task: "asyncio.Task[object]") -> float:
            await task
            return time.perf_counter()

        arrivals = await asyncio.gather(*(stamp(t) for t in waiting))
        for ws in [*sockets, trigger]:
            await ws.close()
        delays = [t - started for t in arrivals]
        return line(f"bare websockets.broadcast, {n:,} clients", delays), per_socket
    finally:
        proc.terminate()
        await proc.wait()


async def mosquitto(n: int) -> str:
    port = free_port()
    with tempfile.TemporaryDirectory() as tmp:
        conf = Path(tmp) / "mosquitto.conf"
        # Mosquitto 2.0's WebSockets listener (libwebsockets) starts only beside a plain
        # MQTT one, and binds an interface, not an address.
        conf.write_text(
            f"listener {free_port()} 127.0.0.1\nlistener {port}\nbind_interface lo\n"
            "protocol websockets\nallow_anonymous true\npersistence false\n"
        )
        broker = shutil.which("mosquitto") or "/usr/sbin/mosquitto"  # Debian's package
        proc = await asyncio.create_subprocess_exec(
            broker, "-c", str(conf), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
        )
        try:
            await asyncio.sleep(0.5)
            clients = [
                aiomqtt.Client("127.0.0.1", port, transport="websockets", identifier=f"s{i}")
                for i in range(n)
            ]

            async def subscribe(client: aiomqtt.Client) -> None:
                await client.__aenter__()
                await client.subscribe("incidents/opened")

            for i in range(0, n, MOSQUITTO_CONNECT_BATCH):
                await asyncio.gather(
                    *(subscribe(c) for c in clients[i : i + MOSQUITTO_CONNECT_BATCH])
                )
            await asyncio.sleep(1)

            async def first(client: aiomqtt.Client) -> float:
                async for _ in client.messages:
                    return time.perf_counter()
                raise RuntimeError("no message")

            waiting = [asyncio.create_task(first(c)) for c in clients]
            async with aiomqtt.Client("127.0.0.1", port, transport="websockets") as publisher:
                await asyncio.sleep(0.2)
                started = time.perf_counter()
                await publisher.publish("incidents/opened", FRAME)
                arrivals = await asyncio.gather(*waiting)
            for i in range(0, n, MOSQUITTO_CONNECT_BATCH):
                batch = clients[i : i + MOSQUITTO_CONNECT_BATCH]
                await asyncio.gather(*(c.__aexit__(None, None, None) for c in batch))
            return line(
                f"Mosquitto over WebSockets, {n:,} subscribers", [t - started for t in arrivals]
            )
        finally:
            proc.terminate()
            await proc.wait()


async def run(url: str, sizes: list[int], *, with_mosquitto: bool = True) -> None:
    elder_tokens, _, officer = await seed(url, len(sizes))
    server = Server(url, PHIKAT_SECRET_KEY=SECRET, PHIKAT_RUN_WORKER="false")
    rows, memory = [], []
    try:
        for n, trigger in zip(sizes, elder_tokens, strict=True):
            row, per_socket = await phikat(server, officer, trigger, n)
            bare_row, bare_per_socket = await bare(n)
            rows += [row, bare_row]
            socket_kib = f"| {n:,} | {per_socket:.1f} KiB | {bare_per_socket:.1f} KiB |"
            print(*rows[-2:], sep="\n", flush=True)
            if not with_mosquitto:
                memory.append(socket_kib)
                continue
            try:
                async with asyncio.timeout(MOSQUITTO_LIMIT_S):
                    rows.append(await mosquitto(n))
            except (TimeoutError, aiomqtt.MqttError) as exc:
                rows.append(
                    f"| Mosquitto, {n:,} subscribers | did not hold them: {type(exc).__name__} |"
                )
            print(rows[-1], flush=True)
            memory.append(socket_kib)
    finally:
        server.stop()
    print("\n| fan-out of one event | p50 | last |\n| --- | --- | --- |")
    print("\n".join(rows))
    print(
        "\n| idle live sockets | RSS per socket: phikat serve | the bare websockets server |"
        "\n| --- | --- | --- |"
    )
    print("\n".join(memory))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--officers", type=int, nargs="+", default=[1000, 5000])
    parser.add_argument("--bare-server", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--no-mosquitto", action="store_true", help="skip the broker")
    args = parser.parse_args()
    if args.bare_server:
        asyncio.run(bare_server(args.bare_server))
        return
    url = scratch_database("phikat_bench_fanout")
    asyncio.run(run(url, args.officers, with_mosquitto=not args.no_mosquitto))


if __name__ == "__main__":
    main()
