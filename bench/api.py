"""Read API throughput: `GET /v1/users/{id}` at random ids over a preloaded store, with `/healthz`
in the same run as the ceiling without a database.

The real server (`mds serve`) runs as a subprocess against PostgreSQL; the load comes from `wrk`
when installed, else from a Python asyncio generator in its own process. Either shares the two
cores with the server and PostgreSQL, so the generator used is printed.
Run: `.venv/bin/python bench/api.py [--users 100000] [--seconds 20] [--connections 8]
[--workers 2] [--loadgen auto|wrk|python]`.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import httpx2 as httpx
import psutil
from sqlalchemy import text

from bench.common import bearer_token, bench_database, free_port, open_store
from bench.loadgen import LoadResult, python_load, wrk_load
from bench.people import generate
from bench.preload import preload

READ_SCOPE = "mds:read:pii"
# wrk 4 adds the requests a stalled connection held back to its latency histogram
# (coordinated omission), so one long stall weighs on its p99; the Python generator does not.
GENERATORS = {
    True: "wrk (percentiles corrected for coordinated omission)",
    False: "python asyncio in its own process (raw percentiles)",
}
TARGET_P99_MS = 20.0
TARGET_RPS = 1_000.0


@dataclass
class Server:
    process: subprocess.Popen[bytes]
    base_url: str

    def tree(self) -> list[psutil.Process]:
        """The serving processes: uvicorn's supervisor and, with --workers, its workers."""
        parent = psutil.Process(self.process.pid)
        return [parent, *parent.children(recursive=True)]

    def peak_rss_mib(self) -> tuple[float, float]:
        """Largest single-process peak RSS and the sum over processes (Linux VmHWM), MiB."""
        peaks = [_vm_hwm_kib(p.pid) / 1024 for p in self.tree()]
        return max(peaks), sum(peaks)

    def cpu_seconds(self) -> float:
        return sum(sum(p.cpu_times()[:2]) for p in self.tree())


def _vm_hwm_kib(pid: int) -> int:
    status = Path(f"/proc/{pid}/status").read_text()
    return next(int(line.split()[1]) for line in status.splitlines() if line.startswith("VmHWM"))


def store_user_ids(url: str, data_dir: Path, count: int) -> list[str]:
    """Preload `count` canonical users (encrypted profiles, identities, match keys); their ids."""
    store = open_store(url, data_dir)
    try:
        with store.sessions() as session:
            held = session.execute(text("SELECT count(*) FROM canonical_users")).scalar_one()
        if held < count:
            people = generate(count - held, seed=7).people[: count - held]
            seconds = preload(store.sessions, store.keyring, people)
            print(f"preloaded {len(people):,} users in {seconds:.1f}s")
        with store.sessions() as session:
            ids = session.execute(text("SELECT id::text FROM canonical_users")).scalars().all()
        return list(ids)
    finally:
        store.engine.dispose()


@contextmanager
def running_server(env: dict[str, str], workers: int) -> Iterator[Server]:
    """`mds serve` on a free loopback port, ready (readyz 200) when yielded."""
    port = free_port()
    command = [sys.executable, "-m", "mds", "serve", "--host", "127.0.0.1", "--port", str(port)]
    if workers > 1:
        command += ["--workers", str(workers)]
    process = subprocess.Popen(
        command, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    server = Server(process, f"http://127.0.0.1:{port}")
    try:
        _wait_ready(server, port, workers)
        yield server
    finally:
        process.terminate()
        process.wait(timeout=30)


def _wait_ready(server: Server, port: int, workers: int) -> None:
    """Until /readyz answers and every worker listens: the load's connections are spread over
    the listeners there are when it starts, so an early start would load the first worker."""
    deadline = time.monotonic() + 90
    while time.monotonic() < deadline:
        if server.process.poll() is not None:
            raise SystemExit(f"the server exited with code {server.process.returncode}")
        try:
            ready = httpx.get(f"{server.base_url}/readyz", timeout=1).status_code == 200
        except httpx.TransportError:
            ready = False
        if ready and _listeners(port) >= workers:
            return
        time.sleep(0.2)
    raise SystemExit("the server did not become ready within 90 s")


def _listeners(port: int) -> int:
    return sum(
        1
        for c in psutil.net_connections("tcp")
        if c.status == psutil.CONN_LISTEN and c.laddr and c.laddr.port == port
    )


def warm_up(server: Server, ids: list[str], headers: dict[str, str]) -> None:
    """Fill the pool and the caches first; and stop at once if reads do not answer 200."""
    with httpx.Client(base_url=server.base_url, headers=headers, timeout=10) as client:
        for user_id in ids[:200]:
            response = client.get(f"/v1/users/{user_id}")
            if response.status_code != 200:
                raise SystemExit(f"GET /v1/users/{user_id}: {response.status_code} {response.text}")


def report(name: str, result: LoadResult, cpu_s: float, cores_s: float) -> None:
    errors = result.errors + result.non_200
    print(
        f"{name}: {result.requests / result.seconds:,.0f} req/s ({result.requests:,} requests"
        f" in {result.seconds:.1f}s), p50 {result.p50_ms:.2f} ms, p95 {result.p95_ms:.2f} ms,"
        f" p99 {result.p99_ms:.2f} ms, max {result.max_ms:.1f} ms; errors {errors:,}"
        f" (non-200 {result.non_200:,}); server CPU {cpu_s / cores_s:.0%} of the machine"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--users", type=int, default=100_000)
    parser.add_argument("--seconds", type=float, default=20.0)
    parser.add_argument("--connections", type=int, default=8)
    parser.add_argument("--workers", type=int, default=2, help="`mds serve --workers`")
    parser.add_argument("--loadgen", choices=["auto", "wrk", "python"], default="auto")
    parser.add_argument("--log-level", default="INFO", help="the server's MDS_LOG_LEVEL")
    args = parser.parse_args()
    use_wrk = args.loadgen == "wrk" or (args.loadgen == "auto" and shutil.which("wrk"))

    with bench_database() as url, tempfile.TemporaryDirectory(prefix="mds-bench-api-") as tmp:
        data_dir = Path(tmp)
        ids = store_user_ids(url, data_dir, args.users)
        ids_file = data_dir / "user_ids.txt"
        ids_file.write_text("\n".join(ids) + "\n")
        env = {k: v for k, v in os.environ.items() if not k.startswith("MDS_")}
        env.update(
            DATABASE_URL=url.replace("postgresql+psycopg", "postgresql"),
            MDS_DATA_DIR=str(data_dir),
            MDS_LOG_LEVEL=args.log_level,
        )
        token = bearer_token(env, READ_SCOPE)
        headers = {"Authorization": f"Bearer {token}"}
        print(
            f"store: {len(ids):,} users; server: mds serve --workers {args.workers},"
            f" log level {args.log_level}; {args.connections} connections,"
            f" {args.seconds:.0f}s per endpoint; load generator:"
            f" {GENERATORS[bool(use_wrk)]};"
            f" token: mds token issue --scope {READ_SCOPE}"
        )
        with running_server(env, args.workers) as server:
            warm_up(server, ids, headers)
            results = {}
            for name, path in (("GET /healthz", "/healthz"), ("GET /v1/users/{id}", "/v1/users/")):
                random_ids = ids_file if path.endswith("/") else None
                cpu_before = server.cpu_seconds()
                load = wrk_load if use_wrk else python_load
                result = load(
                    server.base_url + path, random_ids, headers, args.connections, args.seconds
                )
                cpu_s = server.cpu_seconds() - cpu_before
                report(name, result, cpu_s, result.seconds * (os.cpu_count() or 1))
                results[name] = result
            peak, total = server.peak_rss_mib()
            print(f"server peak RSS: {peak:.0f} MiB per process, {total:.0f} MiB in all")
        users, health = results["GET /v1/users/{id}"], results["GET /healthz"]
        ratio = (users.requests / users.seconds) / (health.requests / health.seconds)
        print(f"users / healthz throughput: {ratio:.0%}")
        met = users.p99_ms <= TARGET_P99_MS and users.requests / users.seconds >= TARGET_RPS
        print(
            f"target p99 <= {TARGET_P99_MS:.0f} ms and >= {TARGET_RPS:,.0f} req/s:"
            f" {'met' if met else 'NOT met'}"
        )


if __name__ == "__main__":
    main()
