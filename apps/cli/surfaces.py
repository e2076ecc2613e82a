"""CLI commands for the surfaces: ``serve``, ``dashboard`` and ``keys``.

``apps/cli/commands.py`` calls :func:`register` with its top-level subparsers. Imports stay
light: uvicorn, streamlit, pydantic and SQLAlchemy load only inside the command that needs them.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

PROJECT_ROOT = Path(__file__).resolve().parents[2]
DASHBOARD_SCRIPT = PROJECT_ROOT / "streamlit_app.py"


def register(top_parsers: Any) -> None:
    """Add ``serve``, ``dashboard`` and ``keys`` to the top-level subparsers."""
    serve = top_parsers.add_parser("serve", help="run the REST API (OpenAPI docs at /docs)")
    serve.add_argument("--host", default="127.0.0.1", help="bind address (default: loopback)")
    serve.add_argument("--port", type=int, default=8000)
    serve.add_argument("--workers", type=int, default=1, help="uvicorn worker processes")
    serve.add_argument("--timeout-s", type=float, default=None,
                       help="answer 504 when a request has not started responding by then")
    serve.set_defaults(func=cmd_serve)

    dash = top_parsers.add_parser("dashboard", help="run the Streamlit stakeholder dashboard")
    dash.add_argument("--host", default="127.0.0.1", help="bind address (default: loopback)")
    dash.add_argument("--port", type=int, default=8501)
    dash.set_defaults(func=cmd_dashboard)

    keys = top_parsers.add_parser("keys", help="manage API keys (stored hashed in the ledger DB)")
    keys_sub = keys.add_subparsers(dest="keys_command", required=True)
    create = keys_sub.add_parser("create", help="create a key; prints the token once")
    create.add_argument("--scopes", nargs="+", required=True,
                        help="one or more of: read compute control jobs admin")
    create.add_argument("--name", default="", help="a label, e.g. who uses the key")
    create.set_defaults(func=cmd_keys_create)
    listing = keys_sub.add_parser("list", help="list keys (never their secrets)")
    listing.set_defaults(func=cmd_keys_list)
    revoke = keys_sub.add_parser("revoke", help="revoke a key by its id")
    revoke.add_argument("key_id")
    revoke.set_defaults(func=cmd_keys_revoke)


def cmd_serve(args: argparse.Namespace, ctx_factory: Callable[[], Any]) -> int:
    """Run uvicorn with the ``create_app`` factory (each worker builds its own app)."""
    import uvicorn

    from apps.settings import export_flags

    export_flags(args)
    if args.workers < 1:
        print("--workers must be at least 1", file=sys.stderr)
        return 2
    ctx_factory()  # fail here, with the CLI's error message, if the zone or ledger is wrong
    factory = "apps.api.server:create_app"
    if args.timeout_s is not None:
        os.environ["GREENSTACK_REQUEST_TIMEOUT_S"] = str(args.timeout_s)
        factory = "apps.cli.surfaces:create_app_from_env"
    print(f"API on http://{args.host}:{args.port}  (OpenAPI docs: /docs, health: /health)")
    uvicorn.run(factory, factory=True, host=args.host, port=args.port, workers=args.workers,
                log_level="info")
    return 0


def create_app_from_env() -> Any:
    """uvicorn factory used when ``--timeout-s`` is set (workers read it from the environment)."""
    from apps.api.server import create_app

    return create_app(request_timeout_s=float(os.environ["GREENSTACK_REQUEST_TIMEOUT_S"]))


def dashboard_command(host: str, port: int) -> list[str]:
    """The ``streamlit run`` command line for the dashboard, headless."""
    return [
        sys.executable, "-m", "streamlit", "run", str(DASHBOARD_SCRIPT),
        "--server.headless", "true",
        "--server.address", host,
        "--server.port", str(port),
        "--browser.gatherUsageStats", "false",
        "--client.toolbarMode", "viewer",  # stakeholders get no developer menu or deploy button
        # A served dashboard does not watch its source files: no "file changed, rerun?" banner,
        # no inotify load on a machine where code is being edited.
        "--server.fileWatcherType", "none",
        "--server.runOnSave", "false",
    ]


def cmd_dashboard(args: argparse.Namespace, ctx_factory: Callable[[], Any]) -> int:
    """Run ``streamlit run streamlit_app.py`` headless until interrupted."""
    from apps.settings import export_flags

    export_flags(args)
    print(f"Dashboard on http://{args.host}:{args.port}")
    try:
        return subprocess.call(dashboard_command(args.host, args.port), cwd=PROJECT_ROOT)
    except KeyboardInterrupt:
        return 0


def _key_store(args: argparse.Namespace) -> Any:
    from apps.api.auth import ApiKeyStore
    from apps.settings import settings_from
    from core.ledger import Ledger

    # Keys need only the ledger database, not a grid zone, so no full context is built here.
    return ApiKeyStore(Ledger(settings_from(args).resolved_ledger_url()).engine)


def cmd_keys_create(args: argparse.Namespace, ctx_factory: Callable[[], Any]) -> int:
    """Create a key and print its token (the only time it is shown)."""
    created = _key_store(args).create(args.scopes, name=args.name)
    print(f"key id: {created.key.key_id}  scopes: {' '.join(sorted(created.key.scopes))}")
    print(f"token:  {created.token}")
    print("Store the token now; only its hash is kept. Send it as 'Authorization: Bearer <token>'.")
    return 0


def cmd_keys_list(args: argparse.Namespace, ctx_factory: Callable[[], Any]) -> int:
    """List keys with their scopes and state."""
    import datetime as dt

    keys = _key_store(args).list()
    if not keys:
        print("no API keys; create one with `greenstack keys create --scopes read`")
    for key in keys:
        created = dt.datetime.fromtimestamp(key.created_unix_s, dt.UTC).isoformat(timespec="seconds")
        state = "revoked" if key.revoked_unix_s is not None else "active"
        print(f"{key.key_id}  {state:7s}  {','.join(sorted(key.scopes)):24s}  {created}  {key.name}")
    return 0


def cmd_keys_revoke(args: argparse.Namespace, ctx_factory: Callable[[], Any]) -> int:
    """Revoke a key by id."""
    if _key_store(args).revoke(args.key_id):
        print(f"revoked {args.key_id}")
        return 0
    print(f"no active key with id {args.key_id!r}; see `greenstack keys list`", file=sys.stderr)
    return 1
