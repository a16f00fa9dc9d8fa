"""Paced single-signal POSTs against `mds serve`: each request's latency, and the server's own
account of its group commits."""

from __future__ import annotations

import subprocess
import sys
import threading
import time
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import httpx2 as httpx
from prometheus_client.parser import text_string_to_metric_families

from bench.common import bearer_token, free_port, tree_cpu_seconds


@dataclass(frozen=True)
class ServerBatches:
    """The server's own account of its group commits and decisions (its `/metrics`)."""

    batches: int
    signals: int
    seconds: float
    decisions: dict[str, int]
    cpu_seconds: float = 0.0

    def summary(self) -> str:
        if not self.batches:
            return "no resolution batches reported"
        decided = ", ".join(f"{name} {count:,}" for name, count in sorted(self.decisions.items()))
        return (
            f"{self.signals:,} signals in {self.batches:,} group commits"
            f" ({self.signals / self.batches:.1f} per commit,"
            f" {1000 * self.seconds / self.batches:.1f} ms each on average); {decided};"
            f" server CPU {1000 * self.cpu_seconds / max(self.signals, 1):.2f} ms per request"
        )


def server_batches(metrics_text: str) -> ServerBatches:
    values: dict[str, float] = {}
    decisions: dict[str, int] = {}
    for family in text_string_to_metric_families(metrics_text):
        for sample in family.samples:
            if sample.labels.get("entry") != "api":
                continue
            if sample.name == "mds_signals_resolved_total":
                decisions[sample.labels["decision"]] = int(sample.value)
            else:
                values[sample.name] = sample.value
    return ServerBatches(
        int(values.get("mds_resolution_batch_signals_count", 0)),
        int(values.get("mds_resolution_batch_signals_sum", 0)),
        values.get("mds_resolution_batch_seconds_sum", 0.0),
        decisions,
    )


def post_latencies(
    env: dict[str, str], signals: list[dict[str, Any]], rate: float, processes: int = 1
) -> tuple[list[float], float, ServerBatches]:
    """Latencies of paced single-signal POSTs in the order they were sent, the server's peak
    RSS in MiB (with several server processes, that of the supervisor only) and its group
    commits (all processes')."""
    port = free_port()
    server = subprocess.Popen(
        [sys.executable, "-m", "mds", "serve", "--port", str(port), "--workers", str(processes)],
        env={**env, "MDS_LOG_LEVEL": "WARNING"},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            try:
                if httpx.get(f"{base}/readyz", timeout=1).status_code == 200:
                    break
            except httpx.TransportError:
                time.sleep(0.2)
        latencies = [0.0] * len(signals)
        token = bearer_token(env, "mds:write")
        # The server's CPU from the first request on (start-up left out), its processes' too.
        cpu_before = tree_cpu_seconds(server.pid)
        client = httpx.Client(
            base_url=base, timeout=10, headers={"Authorization": f"Bearer {token}"}
        )

        def send(index: int, body: dict[str, Any]) -> None:
            started = time.perf_counter()
            response = client.post("/v1/signals", json=body)
            latencies[index] = time.perf_counter() - started
            response.raise_for_status()

        threads = []
        start = time.perf_counter()
        for i, body in enumerate(signals):
            # Open-loop pacing: request i leaves at start + i / rate, whatever the others do.
            delay = start + i / rate - time.perf_counter()
            if delay > 0:
                time.sleep(delay)
            thread = threading.Thread(target=send, args=(i, body))
            thread.start()
            threads.append(thread)
        for thread in threads:
            thread.join()
        batches = replace(
            server_batches(client.get("/metrics").text),
            cpu_seconds=tree_cpu_seconds(server.pid) - cpu_before,
        )
        client.close()
        # Linux VmHWM: the process's peak resident set size.
        status = Path(f"/proc/{server.pid}/status").read_text()
        peak_kib = next(
            int(line.split()[1]) for line in status.splitlines() if line.startswith("VmHWM")
        )
        return latencies, peak_kib / 1024, batches
    finally:
        server.terminate()
        server.wait(timeout=30)
