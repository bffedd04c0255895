"""``loopline users …`` and ``loopline tokens …``: accounts and API tokens for the server."""

from __future__ import annotations

import contextlib
import getpass
import sys
from collections.abc import Iterator
from datetime import timedelta
from typing import TYPE_CHECKING, Annotated

import typer

from loopline._vocabulary import ROLES, SCOPES
from loopline.cli._app import app, workspace
from loopline.cli._output import Json, Output, console, err_console, table

if TYPE_CHECKING:
    from sqlalchemy.orm import Session

__all__: list[str] = []

users_app = typer.Typer(help="Add, list and disable users.", no_args_is_help=True)
tokens_app = typer.Typer(help="Create, list and revoke API tokens.", no_args_is_help=True)
app.add_typer(users_app, name="users")
app.add_typer(tokens_app, name="tokens")

PasswordStdin = Annotated[
    bool,
    typer.Option(
        "--password-stdin",
        help="Read the password from standard input (prompted for on a terminal).",
    ),
]


@contextlib.contextmanager
def _transaction() -> Iterator[tuple[Session, str]]:
    """One transaction in the project's store, and who acts; connections released after."""
    ws = workspace()
    try:
        with ws.store.transaction() as session:
            yield session, ws.actor
    finally:
        ws.close()


def _read_password() -> str:
    """One password from stdin: prompted without echo on a terminal, else the first line."""
    from loopline.auth import AccountError

    if sys.stdin.isatty():
        password = getpass.getpass("Password: ")
        if getpass.getpass("Again: ") != password:
            raise AccountError("The two passwords differ.", hint="Run the command again.")
        return password
    return sys.stdin.readline().rstrip("\r\n")


@users_app.command("add")
def users_add(
    name: Annotated[str, typer.Argument(help="The user's unique name.")],
    role: Annotated[str, typer.Option(help=" | ".join(ROLES))],
    password_stdin: PasswordStdin = False,
    json_output: Json = False,
) -> None:
    """Add a user with a role; with --password-stdin they can sign in to the web UI."""
    from loopline.auth import add_user

    password = _read_password() if password_stdin else None
    with _transaction() as (session, actor):
        info = add_user(session, name, role, password, actor=actor)
    Output(json_output).result(
        info, lambda: console.print(f"Added {info.role} [bold]{info.name}[/].")
    )


@users_app.command("list")
def users_list(json_output: Json = False) -> None:
    """Every user, with role and status."""
    from loopline.auth import list_users

    with _transaction() as (session, _):
        users = list_users(session)
    rows = [
        (
            u.name,
            u.role,
            "disabled" if u.disabled else "enabled",
            "yes" if u.has_password else "no",
            f"{u.created_at:%Y-%m-%d %H:%M}",
        )
        for u in users
    ]
    Output(json_output).result(
        users,
        lambda: console.print(
            table("Users", ["name", "role", "status", "password", "added"], rows)
        ),
    )


@users_app.command("disable")
def users_disable(
    name: Annotated[str, typer.Argument(help="The user to lock out.")], json_output: Json = False
) -> None:
    """Lock a user out: their tokens and web sessions stop working at once."""
    from loopline.auth import disable_user

    with _transaction() as (session, actor):
        info = disable_user(session, name, actor=actor)
    Output(json_output).result(info, lambda: console.print(f"Disabled [bold]{info.name}[/]."))


@users_app.command("set-password")
def users_set_password(
    name: Annotated[str, typer.Argument(help="The user whose password to set.")],
    json_output: Json = False,
) -> None:
    """Set a user's password from standard input; signs out their web sessions."""
    from loopline.auth import set_password

    password = _read_password()
    with _transaction() as (session, actor):
        set_password(session, name, password, actor=actor)
    Output(json_output).result(
        {"name": name, "has_password": True},
        lambda: console.print(f"Password set for [bold]{name}[/]."),
    )


@tokens_app.command("create")
def tokens_create(
    user: Annotated[str, typer.Option(help="The user the token acts as.")],
    scope: Annotated[list[str], typer.Option(help=" | ".join(SCOPES) + " (repeat for more).")],
    name: Annotated[str, typer.Option(help="What the token is for.")] = "token",
    expires_days: Annotated[
        int | None, typer.Option(min=1, help="Days until it stops working (default: never).")
    ] = None,
    json_output: Json = False,
) -> None:
    """Create an API token; its secret is printed once and cannot be shown again."""
    from loopline.auth import create_token, list_tokens

    expires_in = None if expires_days is None else timedelta(days=expires_days)
    with _transaction() as (session, actor):
        token = create_token(session, user, scope, name=name, expires_in=expires_in, actor=actor)
        prefix = token.split("_", 2)[1]
        info = next(t for t in list_tokens(session, user) if t.prefix == prefix)

    def render() -> None:
        err_console.print(
            "[yellow]Store this token now (e.g. in a secret manager): "
            "it is shown only this once.[/]"
        )
        console.print(token)

    Output(json_output).result(
        {
            **info.to_dict(),
            "token": token,
            "warning": "Store this token now: it is shown only this once.",
        },
        render,
    )


@tokens_app.command("list")
def tokens_list(
    user: Annotated[str | None, typer.Option(help="Only this user's tokens.")] = None,
    json_output: Json = False,
) -> None:
    """API tokens (never their secrets), newest first."""
    from loopline.auth import list_tokens

    with _transaction() as (session, _):
        tokens = list_tokens(session, user)
    rows = [
        (
            t.prefix,
            t.user,
            t.name,
            ", ".join(t.scopes),
            "active" if t.active else ("revoked" if t.revoked_at else "expired"),
            None if t.expires_at is None else f"{t.expires_at:%Y-%m-%d %H:%M}",
            None if t.last_used_at is None else f"{t.last_used_at:%Y-%m-%d %H:%M}",
        )
        for t in tokens
    ]
    columns = ["prefix", "user", "name", "scopes", "status", "expires", "last used"]
    Output(json_output).result(tokens, lambda: console.print(table("Tokens", columns, rows)))


@tokens_app.command("revoke")
def tokens_revoke(
    prefix: Annotated[str, typer.Argument(help="The token's prefix (see `tokens list`).")],
    json_output: Json = False,
) -> None:
    """Revoke an API token at once."""
    from loopline.auth import revoke_token

    with _transaction() as (session, actor):
        info = revoke_token(session, prefix, actor=actor)
    Output(json_output).result(info, lambda: console.print(f"Revoked token {info.prefix}."))
