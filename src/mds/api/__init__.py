"""HTTP API: routers, schemas, dependencies and error mapping."""
