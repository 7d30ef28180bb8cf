"""`socpipe token create --role ROLE --name NAME` and `socpipe user create`.

They live in the composition root because they pick the store for a mode. The token is printed
once; only its SHA-256 is stored.
"""

from __future__ import annotations

import getpass
from typing import Annotated

import typer

from api.auth.models import Role
from soc_core.settings import Mode, Settings
from soc_core.store import Store

token_app = typer.Typer(no_args_is_help=True, help="API bearer tokens for automation.")
user_app = typer.Typer(no_args_is_help=True, help="Console users.")


def _store(mode: Mode) -> Store:
    # imported on use: the stores and the API stack cost `socpipe detect` a second at start-up
    from socpipe.runtime import build_backend

    return build_backend(Settings(mode=mode)).store


@token_app.command("create")
def create_token_command(
    role: Annotated[Role, typer.Option(help="The role the token acts with.")],
    name: Annotated[str, typer.Option(help="What uses the token (shown in the audit log).")],
    mode: Annotated[Mode, typer.Option(help="Which store to write to.")] = Mode.EMBEDDED,
) -> None:
    """Create an API token and print it (once)."""
    from api.auth.service import create_api_token

    token, record = create_api_token(store=_store(mode), name=name, role=role, actor="cli")
    typer.echo(f"token {record.id} ({record.name}, role {record.role}):")
    typer.echo(token)


@user_app.command("create")
def create_user_command(
    username: Annotated[str, typer.Option()],
    role: Annotated[Role, typer.Option()],
    display_name: Annotated[str | None, typer.Option()] = None,
    mode: Annotated[Mode, typer.Option(help="Which store to write to.")] = Mode.EMBEDDED,
) -> None:
    """Create a console user; the password is asked for (never a command-line argument)."""
    from api.auth.service import create_user

    password = getpass.getpass("password (12+ characters): ")
    if len(password) < 12:
        raise typer.BadParameter("the password needs at least 12 characters")
    user = create_user(
        store=_store(mode),
        username=username,
        password=password,
        role=role,
        display_name=display_name,
        actor="cli",
    )
    typer.echo(f"user {user.username} ({user.role}) created")
