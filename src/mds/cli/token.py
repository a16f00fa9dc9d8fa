"""`mds token issue`: a bearer token signed by the local signing key (no JWKS URL set)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated

import typer

from mds.cli.common import cli_console, settings_for_cli
from mds.security.scopes import ALL_SCOPES
from mds.security.signing import LocalSigningKey, token_claims

app = typer.Typer(help="Bearer tokens for local use.", no_args_is_help=True)
_stderr = cli_console(stderr=True)


@app.command()
def issue(
    scope: Annotated[
        list[str],
        typer.Option("--scope", help=f"A scope to grant (repeatable): {', '.join(ALL_SCOPES)}"),
    ],
    subject: Annotated[str, typer.Option(help="The token's subject (who calls)")] = "mds-cli",
    ttl: Annotated[
        int | None,
        typer.Option(
            help="Lifetime in seconds (default MDS_TOKEN_TTL_SECONDS)", min=60, max=30 * 86400
        ),
    ] = None,
) -> None:
    """Print a token signed by the local key; the last line of output is the token."""
    unknown = sorted(set(scope) - set(ALL_SCOPES))
    if unknown:
        _stderr.print(f"[red]error:[/red] unknown scope(s): {', '.join(unknown)}")
        raise typer.Exit(2)
    settings = settings_for_cli()
    if settings.jwks_url:
        _stderr.print(
            "[red]error:[/red] MDS_JWKS_URL is set: the service only accepts tokens from that "
            "issuer, so a locally signed token would be refused"
        )
        raise typer.Exit(1)
    key = LocalSigningKey.load_or_create(settings.token_signing_key_path)
    claims = token_claims(
        issuer=settings.jwt_issuer,
        audience=settings.jwt_audience,
        subject=subject,
        scopes=scope,
        ttl_seconds=ttl or settings.token_ttl_seconds,
    )
    expires = datetime.fromtimestamp(claims["exp"], UTC).isoformat()
    _stderr.print(f"subject {subject}, scopes {claims['scope']}, expires {expires}")
    print(key.sign(claims))
