"""A tiny Confluent Schema Registry on loopback: the two calls producers and consumers make.

We do not run a registry locally (it is a JVM service); this speaks its REST API for the
subjects/versions and schemas/ids endpoints, with ids stable per distinct schema.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


class _Registry:
    def __init__(self) -> None:
        self.schemas: list[str] = []
        self.subjects: dict[str, list[int]] = {}

    def register(self, subject: str, schema: str) -> int:
        canonical = json.dumps(json.loads(schema), sort_keys=True)
        if canonical not in self.schemas:
            self.schemas.append(canonical)
        schema_id = self.schemas.index(canonical) + 1
        versions = self.subjects.setdefault(subject, [])
        if schema_id not in versions:
            versions.append(schema_id)
        return schema_id


def _handler(registry: _Registry) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def _answer(self, status: int, body: dict[str, Any]) -> None:
            data = json.dumps(body).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/vnd.schemaregistry.v1+json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def do_POST(self) -> None:
            parts = self.path.strip("/").split("/")
            if len(parts) != 3 or parts[0] != "subjects" or parts[2] != "versions":
                self._answer(404, {"error_code": 404, "message": "not found"})
                return
            length = int(self.headers.get("Content-Length", 0))
            body = json.loads(self.rfile.read(length))
            self._answer(200, {"id": registry.register(parts[1], body["schema"])})

        def do_GET(self) -> None:
            parts = self.path.strip("/").split("/")
            if len(parts) == 3 and parts[:2] == ["schemas", "ids"] and parts[2].isdigit():
                index = int(parts[2]) - 1
                if 0 <= index < len(registry.schemas):
                    self._answer(200, {"schema": registry.schemas[index]})
                    return
            self._answer(404, {"error_code": 40403, "message": "Schema not found"})

        def log_message(self, format: str, *args: Any) -> None:
            pass

    return Handler


@contextmanager
def schema_registry() -> Iterator[str]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(_Registry()))
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()
