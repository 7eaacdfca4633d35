"""The ``aims`` command: ``aims serve``, ``aims login``, ``aims leaderboard NAME``, ``aims tokens``,
``aims passwd``, ``aims invite NAME``, ``aims roster NAME FILE``, ``aims logout`` and friends."""

from __future__ import annotations

import argparse
import getpass
import sys

from .errors import AimsError


def _serve(args: argparse.Namespace) -> None:
    try:
        from .hub.server import run
        from .hub.settings import Settings
    except ImportError as e:  # a client-only install: say what is missing, not a traceback
        raise SystemExit(
            f"`aims serve` runs the hub, which needs the hub extra ({e.name} is missing): "
            'pip install "aims-spaces[hub]"'
        ) from None

    overrides = {
        k: v for k, v in {"host": args.host, "port": args.port, "home": args.home}.items() if v is not None
    }
    run(Settings(**overrides))


def _login(args: argparse.Namespace) -> None:
    from .client.http import config_dir, login

    token = args.token
    username = args.username
    password = None
    if token is None:
        username = username or input("username: ")
        password = getpass.getpass("password: ")
    client = login(args.url, token, username=username, password=password, save=True)
    who = client.request("GET", "/api/whoami")
    print(
        f"logged in to {client.url} as {who['username']}; token saved in {config_dir() / 'credentials.json'}"
    )


def _leaderboard(args: argparse.Namespace) -> None:
    import pandas as pd

    from .client.playground import ModelPlayground

    df = ModelPlayground(name=args.name).get_leaderboard(args.board, verbose=False)
    with pd.option_context("display.max_columns", 30, "display.width", 200):
        print(
            df.drop(columns=["description"], errors="ignore").to_string(index=False)
            if not df.empty
            else "no scored submissions yet"
        )


def _add_user(args: argparse.Namespace) -> None:
    from .client.http import default_client

    body = {"username": args.username, "password": args.password, "is_admin": args.admin}
    out = default_client().request("POST", "/api/users", json_body=body)
    print(f"created {out['user']['username']}\n  password: {out['password']}\n  token:    {out['token']}")


def _whoami(args: argparse.Namespace) -> None:
    from .client.http import default_client

    client = default_client()
    who = client.request("GET", "/api/whoami")
    print(f"{who['username']} on {client.url}{' (admin)' if who['is_admin'] else ''}")


def _tokens(args: argparse.Namespace) -> None:
    from .client.http import default_client

    client = default_client()
    if args.revoke is not None:
        client.request("DELETE", f"/api/tokens/{args.revoke}")
        print(f"token {args.revoke} revoked")
        return
    for t in client.request("GET", "/api/tokens"):
        mark = " (this one)" if t["current"] else ""
        print(f"{t['id']:>6}  {t['kind']:<8} {t['name'] or '-':<24} expires {t['expires_at'][:19]}{mark}")


def _logout(args: argparse.Namespace) -> None:
    from .client.http import config_dir, default_client

    client = default_client()
    client.request("POST", "/api/logout")
    (config_dir() / "credentials.json").unlink(missing_ok=True)
    print(f"logged out of {client.url}; the token is revoked")


def _passwd(args: argparse.Namespace) -> None:
    from .client.http import default_client

    client = default_client()
    if args.user:  # an admin resets someone else's
        out = client.request("POST", f"/api/users/{args.user}/password", json_body={})
        print(f"new password of {out['username']}: {out['password']} (their tokens are revoked)")
        return
    current = getpass.getpass("current password: ")
    new = getpass.getpass("new password: ")
    if getpass.getpass("new password again: ") != new:
        raise SystemExit("the new passwords differ; nothing changed")
    client.request("POST", "/api/password", json_body={"current": current, "new": new})
    print("password changed; your other tokens and sessions are revoked (this one stays)")


def _invite(args: argparse.Namespace) -> None:
    from .client.playground import ModelPlayground

    pg = ModelPlayground(name=args.name)
    link = pg.create_invitation(
        expires_in_hours=args.hours, max_uses=args.uses, email_domain=args.domain, role=args.role
    )
    print(f"{pg.client.url}{link.path}\n  {link.max_uses} uses, until {link.expires_at:%Y-%m-%d %H:%M} UTC")


def _roster(args: argparse.Namespace) -> None:
    from .client.playground import ModelPlayground

    pg = ModelPlayground(name=args.name)
    for entry in pg.import_roster(args.csv):
        link = f"{pg.client.url}{entry.signin_path}" if entry.signin_path else "(has an account)"
        print(f"{entry.username:<24} {link}")


def _export_space(args: argparse.Namespace) -> None:
    from .client.playground import ModelPlayground
    from .client.space import export_space

    out = export_space(ModelPlayground(name=args.name), args.folder)
    print(f"wrote {out}: run it with `cd {out} && pip install -r requirements.txt && python app.py`")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="aims", description="aims_spaces hub and client")
    sub = parser.add_subparsers(dest="command", required=True)

    p = sub.add_parser("serve", help="start a hub (REST API, evaluators on Ray)")
    p.add_argument("--host")
    p.add_argument("--port", type=int)
    p.add_argument("--home", help="data directory (AIMS_HOME)")
    p.set_defaults(func=_serve)

    p = sub.add_parser("login", help="save a hub URL and API token for the client and CLI")
    p.add_argument("url", nargs="?", help="hub URL, default http://127.0.0.1:7860")
    p.add_argument("--token")
    p.add_argument("--username")
    p.set_defaults(func=_login)

    p = sub.add_parser("leaderboard", help="print a playground's leaderboard")
    p.add_argument("name")
    p.add_argument("--board", default="experiment", choices=["experiment", "competition"])
    p.set_defaults(func=_leaderboard)

    p = sub.add_parser("add-user", help="create a user (admin only); prints the password and a token")
    p.add_argument("username")
    p.add_argument("--password")
    p.add_argument("--admin", action="store_true")
    p.set_defaults(func=_add_user)

    p = sub.add_parser("whoami", help="show who the saved token belongs to")
    p.set_defaults(func=_whoami)

    p = sub.add_parser("tokens", help="list your tokens (API and web sessions), or revoke one")
    p.add_argument("--revoke", type=int, metavar="ID", help="revoke the token with this id")
    p.set_defaults(func=_tokens)

    p = sub.add_parser("passwd", help="change your password (or, as an admin, --user NAME's)")
    p.add_argument("--user", help="reset this user's password to a generated one (admin only)")
    p.set_defaults(func=_passwd)

    p = sub.add_parser("invite", help="make an invitation link to a playground (owner, co-owner)")
    p.add_argument("name")
    p.add_argument("--hours", type=float, default=168, help="how long it works (default a week)")
    p.add_argument("--uses", type=int, default=50, help="how many people may use it")
    p.add_argument("--domain", help="only for e-mail addresses at this domain")
    p.add_argument("--role", default="member", choices=["member", "co-owner"])
    p.set_defaults(func=_invite)

    p = sub.add_parser("roster", help="import a class list (CSV: username[,email]) into a playground")
    p.add_argument("name")
    p.add_argument("csv")
    p.set_defaults(func=_roster)

    p = sub.add_parser(
        "export-space", help="write a standalone Hugging Face Space folder for a playground's deployed model"
    )
    p.add_argument("name")
    p.add_argument("folder", help="a new (or empty) folder")
    p.set_defaults(func=_export_space)

    p = sub.add_parser("logout", help="revoke the saved token and forget it")
    p.set_defaults(func=_logout)
    return parser


def main(argv: list[str] | None = None) -> None:
    args = build_parser().parse_args(argv)
    try:
        args.func(args)
    except AimsError as e:
        print(f"error: {e}", file=sys.stderr)
        sys.exit(1)
    except KeyboardInterrupt:
        sys.exit(130)
