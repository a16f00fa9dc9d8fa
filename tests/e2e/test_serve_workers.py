"""`mds serve --workers 2`: each worker process listens on a socket of its own (SO_REUSEPORT)."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx2 as httpx
import psutil
from prometheus_client.parser import text_string_to_metric_families
from sqlalchemy import create_engine, text

from mds.store.database import sqlalchemy_url
from tests.e2e.conftest import free_port


def listeners(port: int) -> set[int]:
    """Pids of the processes listening on this port."""
    return {
        c.pid
        for c in psutil.net_connections("tcp")
        if c.status == psutil.CONN_LISTEN and c.laddr and c.laddr.port == port and c.pid
    }


def test_two_workers_listen_each_on_their_own_socket(
    cli_env: dict[str, str], tmp_path: Path
) -> None:
    port = free_port()
    command = [sys.executable, "-m", "mds", "serve", "--port", str(port), "--workers", "2"]
    log_path = tmp_path / "serve.log"
    with log_path.open("w") as log:
        process = subprocess.Popen(command, env=cli_env, stdout=log, stderr=log)
    try:
        deadline = time.monotonic() + 90
        while len(listeners(port)) < 2 and time.monotonic() < deadline:
            assert process.poll() is None, "mds serve exited"
            time.sleep(0.2)
        workers = listeners(port)
        children = {p.pid for p in psutil.Process(process.pid).children(recursive=True)}
        # The supervisor binds the address but never listens: only workers accept.
        assert len(workers) == 2 and workers <= children, (workers, children)
        with httpx.Client(base_url=f"http://127.0.0.1:{port}") as client:
            assert all(client.get("/healthz").status_code == 200 for _ in range(20))
    finally:
        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=30) == 0
    assert listeners(port) == set()
    # Each worker rehearsed resolving before it listened, and kept nothing of it.
    lines = log_path.read_text().splitlines()
    events = [json.loads(line).get("event") for line in lines if line.startswith("{")]
    assert events.count("warm_up.done") == 2, events
    engine = create_engine(sqlalchemy_url(cli_env["DATABASE_URL"]))
    with engine.connect() as conn:
        assert conn.scalar(text("SELECT count(*) FROM canonical_users")) == 0
        assert conn.scalar(text("SELECT count(*) FROM signals")) == 0
    engine.dispose()


def test_metrics_count_every_worker_whichever_answers(cli_env: dict[str, str]) -> None:
    port = free_port()
    command = [sys.executable, "-m", "mds", "serve", "--port", str(port), "--workers", "2"]
    process = subprocess.Popen(
        command, env=cli_env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 90
        while len(listeners(port)) < 2 and time.monotonic() < deadline:
            assert process.poll() is None, "mds serve exited"
            time.sleep(0.2)
        # A connection of its own for each request: the kernel spreads them over the workers.
        assert all(httpx.get(f"{base}/healthz").status_code == 200 for _ in range(30))
        seen = set()
        for _ in range(6):
            families = text_string_to_metric_families(httpx.get(f"{base}/metrics").text)
            seen.add(
                sum(
                    sample.value
                    for family in families
                    for sample in family.samples
                    if sample.name == "mds_http_requests_total"
                    and sample.labels["route"] == "/healthz"
                )
            )
        assert seen == {30}
    finally:
        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=30) == 0
