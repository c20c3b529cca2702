"""``apicensus serve`` and ``apicensus keys``.

Only argparse and the standard library at module level: the dispatcher imports this module for
every ``apicensus`` command. FastAPI, SQLAlchemy and uvicorn are imported inside the commands.
"""

from __future__ import annotations

import argparse
import contextlib
from collections.abc import Iterator
from typing import Any

from analyzer.cli import guarded, report_error

ROLES = ("admin", "analyst", "viewer", "sensor")


def register(subparsers: Any) -> None:
    s = subparsers.add_parser(
        "serve",
        help="run the inventory REST service",
        description="Serve the inventory over HTTP (/health without a key, /api/v1/... with one).",
    )
    s.add_argument(
        "--db",
        metavar="URL",
        help="database URL (default: $APICENSUS_DATABASE_URL, else sqlite:///apicensus.db)",
    )
    s.add_argument(
        "--bind",
        metavar="HOST:PORT",
        help="listen address (default: $APICENSUS_API_BIND, else 127.0.0.1:8000)",
    )
    s.add_argument(
        "--workers", type=int, metavar="N", help="worker processes (default: $APICENSUS_API_WORKERS, else 1)"
    )
    s.add_argument(
        "--head-timeout", type=float, metavar="S",
        help="seconds a request head may take from its first byte (default 10)",
    )
    s.add_argument(
        "--body-timeout", type=float, metavar="S",
        help="longest silence while a request body is received (default 30)",
    )
    s.add_argument(
        "--max-connections", type=int, metavar="N",
        help="open connections per worker; more get 503 and are closed (default 256)",
    )
    s.add_argument("--log-level", default="info", choices=["critical", "error", "warning", "info", "debug"])
    s.set_defaults(func=guarded("serve", run_serve))

    d = subparsers.add_parser(
        "demo",
        help="analyse the bundled sample captures, create an admin key and serve them",
        description="One command to look around: analyses sample_pcaps/ into a local SQLite database, "
        "creates an admin key, starts the service and prints its URL and the key.",
    )
    d.add_argument("--db", metavar="URL", default="sqlite:///apicensus-demo.db",
                   help="database URL (default sqlite:///apicensus-demo.db in the current directory)")
    d.add_argument("--bind", metavar="HOST:PORT", default="127.0.0.1:8000", help="listen address (default 127.0.0.1:8000)")
    d.add_argument("--captures", metavar="DIR", help="captures to analyse (default: the bundled sample_pcaps/)")
    d.set_defaults(func=guarded("demo", run_demo))

    k = subparsers.add_parser("keys", help="manage API keys", description="Create, list and revoke API keys.")
    ks = k.add_subparsers(dest="keys_command", required=True, metavar="ACTION")
    c = ks.add_parser(
        "create",
        help="create a key and print it (alone, on stdout)",
        description="The key is shown once: only its SHA-256 is stored.",
    )
    c.add_argument("--role", required=True, choices=ROLES)
    c.add_argument("--name", help="a label to recognise the key by")
    c.add_argument("--db", metavar="URL", help="database URL (as for serve)")
    c.set_defaults(func=guarded("keys create", run_keys_create))
    ls = ks.add_parser("list", help="list keys (never the secrets)")
    ls.add_argument("--db", metavar="URL", help="database URL (as for serve)")
    ls.set_defaults(func=guarded("keys list", run_keys_list))
    r = ks.add_parser("revoke", help="revoke a key by id")
    r.add_argument("key_id", type=int, metavar="ID")
    r.add_argument("--db", metavar="URL", help="database URL (as for serve)")
    r.set_defaults(func=guarded("keys revoke", run_keys_revoke))

    sp = subparsers.add_parser("spec", help="OpenAPI documents", description="Import OpenAPI documents.")
    sps = sp.add_subparsers(dest="spec_command", required=True, metavar="ACTION")
    i = sps.add_parser(
        "import",
        help="import OpenAPI 2.0/3.0/3.1 documents (JSON or YAML)",
        description="Check every document first, then import them all in one transaction: an invalid "
        "document imports nothing. Operations are matched to observed endpoints of the service.",
    )
    i.add_argument("files", nargs="+", metavar="FILE", help="OpenAPI document, JSON or YAML")
    i.add_argument(
        "--host", help="the service these documents describe (default: each document's server host)"
    )
    i.add_argument("--db", metavar="URL", help="database URL (as for serve)")
    i.set_defaults(func=guarded("spec import", run_spec_import))


def _open_db(command: str, url: str) -> Any:
    """Engine on a migrated database (the one schema), or None after saying why."""
    from analyzer.cli import open_db

    return open_db(command, url)


@contextlib.contextmanager
def _session(command: str, url: str) -> Iterator[Any]:
    """A session on the migrated database at ``url``, or None after saying why (the command then
    exits 2); the engine is disposed when the block ends."""
    from analyzer.db.session import make_session_factory

    engine = _open_db(command, url)
    if engine is None:
        yield None
        return
    try:
        with make_session_factory(engine)() as session:
            yield session
    finally:
        engine.dispose()


def _db_url(db: str | None) -> str:
    """``--db``, else the service's database (as for serve)."""
    from inventory_api.settings import ApiSettings

    return ApiSettings.from_env(database_url=db).database_url


def run_serve(args: argparse.Namespace) -> int:
    from inventory_api.settings import ApiSettings
    from sensor.plumbing.bind import parse_bind

    overrides: dict[str, Any] = {
        "database_url": args.db,
        "workers": args.workers,
        "head_timeout": args.head_timeout,
        "body_timeout": args.body_timeout,
        "max_connections": args.max_connections,
    }
    if args.bind:
        try:
            overrides["host"], overrides["port"] = parse_bind(args.bind)
        except ValueError as exc:
            report_error("serve", f"--bind: {exc}")
            return 2
    try:
        settings = ApiSettings.from_env(**overrides)
    except ValueError as exc:  # APICENSUS_API_* variables, or out-of-range flags
        report_error("serve", str(exc))
        return 2
    busy = _port_in_use(settings.host, settings.port)
    if busy:
        report_error("serve", f"cannot listen on {settings.host}:{settings.port}: {busy}")
        return 2
    engine = _open_db("serve", settings.database_url)
    if engine is None:
        return 2
    engine.dispose()

    from inventory_api.server import run

    # uvicorn's own loggers propagate to ours, set up in each server process: one JSON line per
    # event ($APICENSUS_LOG_FORMAT=text for a terminal).
    run(settings, log_level=args.log_level)
    return 0


def _port_in_use(host: str, port: int) -> str | None:
    """Why ``host:port`` cannot be listened on (e.g. "address already in use"), or None."""
    import errno
    import socket

    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((host, port))
        except OSError as exc:
            if exc.errno == errno.EADDRINUSE:
                return "address already in use (another server is running there? pick one with --bind)"
            return exc.strerror or str(exc)
    return None


def run_demo(args: argparse.Namespace) -> int:
    import contextlib
    import io
    import sys
    from pathlib import Path

    from sensor.plumbing.bind import parse_bind

    try:
        host, port = parse_bind(args.bind)
    except ValueError as exc:
        report_error("demo", f"--bind: {exc}")
        return 2
    busy = _port_in_use(host, port)
    if busy:
        report_error("demo", f"cannot listen on {host}:{port}: {busy}")
        return 2
    captures = Path(args.captures) if args.captures else Path(__file__).resolve().parents[1] / "sample_pcaps"
    pcaps = sorted(captures.glob("*.pcap")) + sorted(captures.glob("*.pcapng"))
    if not pcaps:
        report_error("demo", f"no captures in {captures} (pass --captures DIR)")
        return 2
    from analyzer.cli import run_analyze

    print(f"analysing {len(pcaps)} captures from {captures} ...", flush=True)
    summary = io.StringIO()
    with contextlib.redirect_stdout(summary):
        code = run_analyze(
            argparse.Namespace(files=[str(p) for p in pcaps], db=args.db, no_pii=False, no_detect=False, batch_size=None, no_progress=True)
        )
    if code not in (0, 1):
        return code
    sys.stdout.write(summary.getvalue())
    from inventory_api import crud
    from inventory_api.schemas import ApiKeyCreate
    from inventory_api.security import Role

    with _session("demo", args.db) as session:
        if session is None:
            return 2
        _row, secret = crud.create_api_key(session=session, key_in=ApiKeyCreate(role=Role.ADMIN, name="demo"))
    base = f"http://{'[' + host + ']' if ':' in host else host}:{port}"
    print(
        f"\nAPICensus is serving the demo inventory at {base}\n"
        f"  console   {base}/ui/  (sign in with the key)\n"
        f"  API       {base}/api/v1/endpoints\n"
        f"  admin key {secret}\n"
        f'  try       curl -H "Authorization: Bearer {secret}" {base}/api/v1/findings\n'
        "Ctrl-C stops it; the database stays for the next `apicensus serve --db "
        f"{args.db}`.\n",
        flush=True,
    )
    return run_serve(
        argparse.Namespace(db=args.db, bind=args.bind, workers=None, head_timeout=None, body_timeout=None,
                           max_connections=None, log_level="warning")
    )


def run_keys_create(args: argparse.Namespace) -> int:
    from inventory_api import crud
    from inventory_api.schemas import ApiKeyCreate
    from inventory_api.security import Role

    with _session("keys create", _db_url(args.db)) as session:
        if session is None:
            return 2
        _row, secret = crud.create_api_key(session=session, key_in=ApiKeyCreate(role=Role(args.role), name=args.name))
    print(secret)
    return 0


def run_keys_list(args: argparse.Namespace) -> int:
    from inventory_api import crud

    with _session("keys list", _db_url(args.db)) as session:
        if session is None:
            return 2
        keys = crud.list_api_keys(session=session)
    for key in keys:
        state = "revoked" if key.revoked_at else "active"
        print(f"{key.id}\t{key.role}\t{key.prefix}…\t{state}\t{key.created_at.isoformat()}\t{key.name or ''}")
    return 0


def run_keys_revoke(args: argparse.Namespace) -> int:
    from inventory_api import crud

    with _session("keys revoke", _db_url(args.db)) as session:
        if session is None:
            return 2
        found = crud.revoke_api_key(session=session, key_id=args.key_id)
    if not found:
        report_error("keys revoke", f"no key with id {args.key_id}")
        return 1
    return 0


def run_spec_import(args: argparse.Namespace) -> int:
    from pathlib import Path

    from analyzer.inventory.specs import SpecError, import_specs, parse_spec

    parsed = []
    failed = False
    for name in args.files:
        try:
            data = Path(name).read_bytes()
        except OSError as exc:
            report_error("spec import", f"{name}: {exc.strerror or exc}")
            failed = True
            continue
        try:
            parsed.append((parse_spec(data, source=name), name))
        except SpecError as exc:
            report_error("spec import", str(exc))
            failed = True
    if failed:
        report_error("spec import", "nothing imported")
        return 2
    with _session("spec import", _db_url(args.db)) as session:
        if session is None:
            return 2
        results = import_specs(session=session, specs=parsed, host=args.host)
    for (_spec, name), result in zip(parsed, results, strict=True):
        print(
            f"{name}: spec {result.spec_id} {result.name!r} (OpenAPI {result.openapi_version}) for "
            f"{result.host or 'no host'}{'' if result.service_id else ' (not observed yet)'}: "
            f"{result.operations} operations, {result.matched} observed, {result.orphans} never seen, "
            f"{result.deprecated_seen} deprecated but seen"
        )
        if result.warning_count:
            report_error(
                "spec import",
                f"{name}: {result.warning_count} validation warnings (imported anyway), e.g. {result.warnings[0]}",
            )
    return 0
