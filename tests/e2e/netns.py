"""Two "hosts" on this machine: Linux network namespaces, each joined to the test's own
namespace by a veth pair, made and removed by the test (root and `ip netns` needed). PostgreSQL
and Redis listen on 127.0.0.1 only, so the test forwards their ports to the veth addresses on
its side, and nowhere else."""
from __future__ import annotations

import asyncio
import contextlib
import os
import secrets
import shutil
import subprocess
from collections.abc import AsyncIterator, Iterator, Sequence
from dataclasses import dataclass


@dataclass(frozen=True)
class Host:
    namespace: str
    address: str  # the namespace's own address
    gateway: str  # the test's side of its veth pair

    def wrap(self) -> list[str]:
        return ["ip", "netns", "exec", self.namespace]


def namespaces_here() -> bool:
    if os.geteuid() != 0 or shutil.which("ip") is None:
        return False
    return subprocess.run(["ip", "netns", "list"], capture_output=True).returncode == 0


def _ip(*args: str) -> None:
    subprocess.run(["ip", *args], check=True, capture_output=True)


@contextlib.contextmanager
def hosts(names: Sequence[str]) -> Iterator[dict[str, Host]]:
    """One namespace per name, with loopback up and a /30 to this namespace; all removed after."""
    tag, made = secrets.token_hex(2), {}
    subnet = 200 + secrets.randbelow(50)
    try:
        for n, name in enumerate(names):
            namespace, outside, inside = f"cd-{name}-{tag}", f"cd{name}{tag}o", f"cd{name}{tag}i"
            _ip("netns", "add", namespace)
            made[name] = Host(namespace, f"10.{subnet}.{n}.2", f"10.{subnet}.{n}.1")
            _ip("link", "add", outside, "type", "veth", "peer", "name", inside)
            _ip("link", "set", inside, "netns", namespace)
            _ip("addr", "add", f"{made[name].gateway}/30", "dev", outside)
            _ip("link", "set", outside, "up")
            for args in (("addr", "add", f"{made[name].address}/30", "dev", inside), ("link", "set", inside, "up"),
                         ("link", "set", "lo", "up")):
                _ip("netns", "exec", namespace, "ip", *args)
        yield made
    finally:
        for host in made.values():  # the veth pair goes with its namespace
            subprocess.run(["ip", "netns", "del", host.namespace], capture_output=True)


async def _pipe(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    try:
        while data := await reader.read(65536):
            writer.write(data)
            await writer.drain()
    except (ConnectionError, asyncio.CancelledError):
        pass
    finally:
        writer.close()


@contextlib.asynccontextmanager
async def forwarded(port: int, listen_on: Sequence[str]) -> AsyncIterator[int]:
    """Forward one free port, on each address of `listen_on`, to 127.0.0.1:`port`; yields it."""
    piping: set[asyncio.Task[None]] = set()

    async def forward(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            upstream_reader, upstream_writer = await asyncio.open_connection("127.0.0.1", port)
        except OSError:
            writer.close()
            return
        for task in (asyncio.create_task(_pipe(reader, upstream_writer)),
                     asyncio.create_task(_pipe(upstream_reader, writer))):
            piping.add(task)
            task.add_done_callback(piping.discard)

    from bench.stack import free_port

    free = free_port()
    server = await asyncio.start_server(forward, host=list(listen_on), port=free)
    try:
        yield free
    finally:
        server.close()
        for task in list(piping):
            task.cancel()
        await asyncio.gather(*piping, return_exceptions=True)
        await server.wait_closed()
