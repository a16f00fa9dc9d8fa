"""Closed-loop HTTP/1.1 load at N keep-alive connections for a fixed time: `wrk` with a Lua
script, or a Python asyncio generator in a process of its own (for machines without wrk).

A path ending in `/` gets a random line of `ids_file` appended per request.
"""

from __future__ import annotations

import asyncio
import random
import re
import statistics
import subprocess
import tempfile
import time
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from multiprocessing import get_context
from pathlib import Path
from urllib.parse import urlsplit

# wrk prints this line from the Lua `done` hook; latencies in microseconds.
_WRK_RESULT = re.compile(r"^RESULT" + r" (\d+)" * 4 + r" ([\d.]+)" * 4 + "$", re.M)
_WRK_SCRIPT = """
local ids = {}
local ids_file = %(ids_file)s
if ids_file then for line in io.lines(ids_file) do ids[#ids + 1] = line end end
local path = %(path)s
function init(args) math.randomseed(42) end
function request()
  if #ids > 0 then return wrk.format(nil, path .. ids[math.random(#ids)]) end
  return wrk.format(nil, path)
end
function done(summary, latency, requests)
  local e = summary.errors
  io.write(string.format("RESULT %%d %%d %%d %%d %%f %%f %%f %%f\\n", summary.requests,
    summary.duration, e.connect + e.read + e.write + e.timeout, e.status,
    latency:percentile(50), latency:percentile(95), latency:percentile(99), latency.max))
end
"""


@dataclass
class LoadResult:
    requests: int
    seconds: float
    p50_ms: float
    p95_ms: float
    p99_ms: float
    max_ms: float
    non_200: int
    errors: int  # transport: connect, read, write, timeout


def _lua_string(value: str) -> str:
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'


def wrk_load(
    url: str, ids_file: Path | None, headers: dict[str, str], connections: int, seconds: float
) -> LoadResult:
    """One wrk thread: wrk is light, and the cores belong to the server and PostgreSQL."""
    parts = urlsplit(url)
    script = _WRK_SCRIPT % {
        "ids_file": _lua_string(str(ids_file)) if ids_file else "nil",
        "path": _lua_string(parts.path),
    }
    with tempfile.NamedTemporaryFile("w", suffix=".lua") as lua:
        lua.write(script)
        lua.flush()
        command = ["wrk", "-t1", f"-c{connections}", f"-d{seconds:.0f}s", "--timeout", "5s"]
        command += [arg for name, value in headers.items() for arg in ("-H", f"{name}: {value}")]
        command += ["-s", lua.name, f"{parts.scheme}://{parts.netloc}"]
        output = subprocess.run(command, capture_output=True, text=True, check=True).stdout
    found = _WRK_RESULT.search(output)
    if found is None:
        raise RuntimeError(f"no result from wrk:\n{output}")
    requests, duration_us, errors, status = (int(found.group(i)) for i in range(1, 5))
    p50, p95, p99, peak = (float(found.group(i)) / 1000 for i in range(5, 9))
    return LoadResult(requests, duration_us / 1e6, p50, p95, p99, peak, status, errors)


def python_load(
    url: str, ids_file: Path | None, headers: dict[str, str], connections: int, seconds: float
) -> LoadResult:
    """The asyncio generator in a spawned process, so it does not share this one's GIL."""
    with ProcessPoolExecutor(max_workers=1, mp_context=get_context("spawn")) as pool:
        return pool.submit(_python_load, url, ids_file, headers, connections, seconds).result()


def _python_load(
    url: str, ids_file: Path | None, headers: dict[str, str], connections: int, seconds: float
) -> LoadResult:
    parts = urlsplit(url)
    ids = ids_file.read_text().split() if ids_file else [""]
    head = "".join(f"{name}: {value}\r\n" for name, value in headers.items())
    template = f"GET {parts.path}{{}} HTTP/1.1\r\nHost: {parts.netloc}\r\n{head}\r\n"
    latencies: list[float] = []
    counts = {"non_200": 0, "errors": 0}

    async def connection(seed: int, deadline: float) -> None:
        rng = random.Random(seed)
        reader, writer = await asyncio.open_connection(parts.hostname, parts.port)
        while (started := time.perf_counter()) < deadline:
            writer.write(template.format(rng.choice(ids)).encode())
            try:
                status, length = _parse_head(await reader.readuntil(b"\r\n\r\n"))
                await reader.readexactly(length)
            except (OSError, asyncio.IncompleteReadError, ValueError):
                counts["errors"] += 1
                writer.close()
                reader, writer = await asyncio.open_connection(parts.hostname, parts.port)
                continue
            latencies.append(time.perf_counter() - started)
            counts["non_200"] += status != 200
        writer.close()

    async def run() -> float:
        started = time.perf_counter()
        deadline = started + seconds
        await asyncio.gather(*(connection(n, deadline) for n in range(connections)))
        return time.perf_counter() - started

    elapsed = asyncio.run(run())
    cuts = statistics.quantiles(latencies, n=100, method="inclusive")
    return LoadResult(
        len(latencies),
        elapsed,
        cuts[49] * 1000,
        cuts[94] * 1000,
        cuts[98] * 1000,
        max(latencies) * 1000,
        counts["non_200"],
        counts["errors"],
    )


def _parse_head(head: bytes) -> tuple[int, int]:
    """Status and Content-Length of a response head (the server never chunks these bodies)."""
    lines = head.decode("latin-1").split("\r\n")
    status = int(lines[0].split(" ", 2)[1])
    for line in lines[1:]:
        name, _, value = line.partition(":")
        if name.strip().lower() == "content-length":
            return status, int(value)
    raise ValueError("response without Content-Length")
