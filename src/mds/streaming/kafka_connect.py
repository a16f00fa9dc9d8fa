"""The few Kafka Connect REST calls `mds cdc` needs: create or update, delete, read status.

`PUT /connectors/{name}/config` is idempotent: it creates the connector (201) or replaces its
config (200), so registering again after a change is always safe. Failures become one
KafkaConnectError whose message names the URL and the status; credentials in
DEBEZIUM_CONNECT_URL (`http://user:pass@host:8083`) are sent as basic auth and never printed.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

import httpx

RUNNING = "RUNNING"


class KafkaConnectError(RuntimeError):
    """Kafka Connect could not be reached or refused the request."""


@dataclass(frozen=True)
class TaskStatus:
    id: int
    state: str
    worker_id: str
    trace: str | None = None


@dataclass(frozen=True)
class ConnectorStatus:
    name: str
    state: str
    worker_id: str
    tasks: tuple[TaskStatus, ...]
    trace: str | None = None

    @property
    def running(self) -> bool:
        """The connector and every task run (a connector without tasks is not publishing)."""
        return (
            self.state == RUNNING
            and bool(self.tasks)
            and all(t.state == RUNNING for t in self.tasks)
        )

    @classmethod
    def from_json(cls, body: dict[str, Any]) -> ConnectorStatus:
        connector = body.get("connector") or {}
        return cls(
            name=str(body.get("name", "")),
            state=str(connector.get("state", "UNKNOWN")),
            worker_id=str(connector.get("worker_id", "")),
            trace=connector.get("trace"),
            tasks=tuple(
                TaskStatus(
                    id=int(task.get("id", 0)),
                    state=str(task.get("state", "UNKNOWN")),
                    worker_id=str(task.get("worker_id", "")),
                    trace=task.get("trace"),
                )
                for task in body.get("tasks") or ()
            ),
        )


class KafkaConnect:
    """A client for one Kafka Connect cluster."""

    def __init__(
        self, url: str, *, timeout: float = 10.0, transport: httpx.BaseTransport | None = None
    ) -> None:
        parsed = httpx.URL(url)
        if parsed.scheme not in {"http", "https"}:
            raise KafkaConnectError(f"DEBEZIUM_CONNECT_URL must be http(s)://…, not {url!r}")
        auth = (parsed.username, parsed.password) if parsed.username else None
        self.url = str(parsed.copy_with(username=None, password=None)).rstrip("/")
        self._client = httpx.Client(
            base_url=self.url, auth=auth, timeout=timeout, transport=transport
        )

    def __enter__(self) -> KafkaConnect:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()

    def close(self) -> None:
        self._client.close()

    def put_config(self, name: str, config: dict[str, str]) -> bool:
        """Create or update connector `name`; True when it was created."""
        path = f"/connectors/{quote(name, safe='')}/config"
        response = self._checked("PUT", path, self._send("PUT", path, config))
        return response.status_code == httpx.codes.CREATED

    def delete(self, name: str) -> bool:
        """Delete connector `name` (its offsets stay in Connect); False when it did not exist."""
        path = f"/connectors/{quote(name, safe='')}"
        response = self._send("DELETE", path)
        if response.status_code == httpx.codes.NOT_FOUND:
            return False
        self._checked("DELETE", path, response)
        return True

    def status(self, name: str) -> ConnectorStatus:
        path = f"/connectors/{quote(name, safe='')}/status"
        response = self._send("GET", path)
        if response.status_code == httpx.codes.NOT_FOUND:
            raise KafkaConnectError(
                f"connector {name} is not registered at {self.url} (GET {path} answered 404);"
                " run `mds cdc register`"
            )
        return ConnectorStatus.from_json(self._checked("GET", path, response).json())

    def _send(self, method: str, path: str, body: dict[str, Any] | None = None) -> httpx.Response:
        try:
            return self._client.request(method, path, json=body)
        except httpx.HTTPError as exc:
            raise KafkaConnectError(
                f"cannot reach Kafka Connect: {method} {self.url}{path} failed: {exc}"
            ) from exc

    def _checked(self, method: str, path: str, response: httpx.Response) -> httpx.Response:
        if response.status_code < httpx.codes.BAD_REQUEST:
            return response
        hint = ""
        if response.status_code == httpx.codes.CONFLICT:
            hint = " (the Connect cluster is rebalancing: try again shortly)"
        raise KafkaConnectError(
            f"Kafka Connect refused {method} {self.url}{path}: {response.status_code}"
            f" {_message(response)}{hint}"
        )


def _message(response: httpx.Response) -> str:
    """Connect's error body is `{"error_code": …, "message": …}`; anything else, its text."""
    try:
        body = response.json()
    except ValueError:
        return response.text[:500]
    if isinstance(body, dict) and body.get("message"):
        return str(body["message"])[:2000]
    return response.text[:500]
