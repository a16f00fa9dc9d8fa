"""ASGI entry point: `uvicorn mds.main:app`."""

from mds.api.app import create_app

app = create_app()
