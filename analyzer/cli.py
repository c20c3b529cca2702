"""``apicensus analyze`` and ``apicensus export``.

Only argparse and the standard library are imported at module level: the dispatcher imports this
module for every ``apicensus`` command, and ``apicensus sensor`` must not pay for SQLAlchemy,
presidio or pandas. Everything heavy is imported inside the command functions.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from collections.abc import Callable
from typing import Any, TextIO

# `export` on a terminal: more lines than this are refused unless --output is given.
TTY_LINES = 1000


def register(subparsers: Any) -> None:
    p = subparsers.add_parser(
        "analyze",
        help="build the API inventory from captures or sensor JSONL",
        description="Analyse pcap/pcapng captures (through the sensor, in-process) or the sensor's JSON "
        "lines into the inventory database. Re-analysing the same exchanges does not double count.",
    )
    p.add_argument("files", nargs="+", metavar="FILE", help="pcap, pcapng or .jsonl; - reads stdin")
    p.add_argument(
        "--db",
        metavar="URL",
        help="SQLAlchemy database URL (default: $APICENSUS_DATABASE_URL, else sqlite:///apicensus.db)",
    )
    p.add_argument("--no-pii", action="store_true", help="skip PII detection")
    p.add_argument("--no-detect", action="store_true", help="skip threat detection (events, actors)")
    p.add_argument("--batch-size", type=int, default=None, metavar="N", help="exchanges per write batch")
    p.add_argument("--no-progress", action="store_true", help="no progress bar even on a terminal")
    p.set_defaults(func=guarded("analyze", run_analyze))

    e = subparsers.add_parser(
        "export",
        help="print the API inventory",
        description='Print the inventory from the database as JSON: {"endpoints": [...], ...}.',
    )
    e.add_argument(
        "--format",
        choices=["json", "openapi", "events"],
        default="json",
        help="json: the whole inventory; openapi: one service's reconstructed OpenAPI 3.1 (--host); "
        "events: detected threat events, one JSON object per line",
    )
    e.add_argument("--since", metavar="TS",
                   help="--format events: only events last seen at or after TS (ISO 8601 or epoch seconds)")
    e.add_argument("--host", metavar="HOST", help="the service for --format openapi")
    e.add_argument("--db", metavar="URL", help="database URL (as for analyze)")
    e.add_argument(
        "--output", "-o", metavar="FILE",
        help=f"write here instead of stdout ('-': stdout, even a terminal past {TTY_LINES} lines)",
    )
    e.set_defaults(func=guarded("export", run_export))


    w = subparsers.add_parser(
        "analyzer",
        help="consume sensor batches from NATS JetStream into the inventory (scale out: run several)",
        description="A long-running analyzer: pulls sensor batches from a JetStream stream through a durable "
        "consumer shared by every analyzer of the deployment, and writes the inventory. Several analyzers "
        "build exactly the inventory one would: batches are applied in stream order.",
    )
    w.add_argument("--from", dest="source", required=True, metavar="nats://HOST:PORT",
                   help="NATS server(s), comma-separated")
    w.add_argument("--db", metavar="URL", help="database URL (default: $APICENSUS_DATABASE_URL, else sqlite)")
    w.add_argument("--stream", default=os.environ.get("APICENSUS_STREAM") or "apicensus", metavar="NAME",
                   help="JetStream stream (default: $APICENSUS_STREAM, else apicensus)")
    w.add_argument("--durable", default="apicensus-analyzer", metavar="NAME",
                   help="durable consumer shared by the analyzers (default apicensus-analyzer)")
    w.add_argument("--idle-exit", type=float, default=None, metavar="SECONDS",
                   help="exit after SECONDS with nothing to consume (batch jobs, tests)")
    w.add_argument("--ack-wait", type=float, default=30.0, metavar="SECONDS",
                   help="a batch taken by an analyzer that died is redelivered after this long (default 30)")
    w.add_argument("--dedupe-days", type=float, default=None, metavar="DAYS",
                   help="forget exchange uids counted more than DAYS ago, so the dedupe table stays bounded on "
                   "a sensor that never stops (default: keep them; an exchange re-sent after that is counted again)")
    w.add_argument("--no-pii", action="store_true", help="skip PII detection")
    w.add_argument("--no-detect", action="store_true", help="skip threat detection (events, actors)")
    w.add_argument("--metrics", metavar="HOST:PORT", help="serve Prometheus metrics on HOST:PORT/metrics")
    w.add_argument("--log-level", default="info", choices=["error", "warning", "info", "debug"])
    w.set_defaults(func=guarded("analyzer", run_stream))

    m = subparsers.add_parser(
        "migrate",
        help="create or upgrade the inventory database schema (one-shot)",
        description="Apply every migration (analyzer and inventory service) to the database and exit.",
    )
    m.add_argument("--db", metavar="URL", help="database URL (default: $APICENSUS_DATABASE_URL, else sqlite)")
    m.set_defaults(func=guarded("migrate", run_migrate))


def report_error(command: str, message: str) -> None:
    print(f"apicensus {command}: {message}", file=sys.stderr)


def _safe_url(url: str) -> str:
    from sqlalchemy.engine import make_url

    try:
        return make_url(url).render_as_string(hide_password=True)
    except Exception:  # noqa: BLE001 - only for messages
        return url


def open_db(command: str, url: str, prepare: Callable[[Any], None] | None = None) -> Any:
    """Engine on a prepared database (default: the analyzer's migrations), or None after
    printing why not. Shared by every command that opens the inventory."""
    from sqlalchemy.exc import ArgumentError, SQLAlchemyError

    from analyzer.db.session import make_engine, run_migrations

    try:
        engine = make_engine(url)
    except (ArgumentError, ValueError) as exc:
        report_error(command, f"invalid database URL {url!r}: {exc}")
        return None
    except ImportError as exc:
        report_error(command, f"database driver missing for {_safe_url(url)}: {exc}")
        return None
    try:
        (prepare or run_migrations)(engine)
    except SQLAlchemyError as exc:
        from analyzer.db.session import error_reason

        reason = error_reason(exc)
        report_error(command, f"cannot use database {_safe_url(url)}: {reason}")
        engine.dispose()
        return None
    return engine


class _ProgressBar:
    """One-line progress on stderr, redrawn at most 10 times a second."""

    def __init__(self, stream: TextIO, progress: Any) -> None:
        self.stream = stream
        self.progress = progress
        self.start = time.monotonic()
        self.last_draw = 0.0
        self.shown = False

    def __call__(self, stats: Any) -> None:
        now = time.monotonic()
        if now - self.last_draw < 0.1:
            return
        self.last_draw = now
        rate = stats.records / max(now - self.start, 1e-6)
        p = self.progress
        if p.total_bytes:
            frac = min(p.consumed / p.total_bytes, 1.0)
            bar = "#" * int(frac * 30)
            head = f"[{bar:<30}] {frac * 100:5.1f}%"
        else:
            head = "[" + " " * 30 + "]"
        self.stream.write(f"\r{head} {stats.records:>9,} exchanges {rate:>8,.0f}/s  {p.name[-40:]}\x1b[K")
        self.stream.flush()
        self.shown = True

    def close(self) -> None:
        if self.shown:
            self.stream.write("\r\x1b[K")
            self.stream.flush()


def guarded(command: str, func: Any) -> Any:
    """No tracebacks for users: an unexpected failure is one line (APICENSUS_DEBUG=1 re-raises)."""

    def wrapper(args: argparse.Namespace) -> int:
        try:
            return int(func(args) or 0)
        except (KeyboardInterrupt, BrokenPipeError):
            raise
        except Exception as exc:
            if os.environ.get("APICENSUS_DEBUG"):
                raise
            report_error(command, f"internal error: {type(exc).__name__}: {exc} (set APICENSUS_DEBUG=1 for details)")
            return 3

    return wrapper


def run_analyze(args: argparse.Namespace) -> int:
    # Standard library only until the PII worker is forked (see below).
    from analyzer.db.settings import AnalyzerSettings
    from analyzer.pipeline.pii import start_pii

    if args.batch_size is not None and args.batch_size < 1:
        report_error("analyze", "--batch-size must be >= 1")
        return 2
    settings = AnalyzerSettings.from_env(
        database_url=args.db,
        batch_size=args.batch_size,
        pii_enabled=False if args.no_pii else None,
        detect_enabled=False if args.no_detect else None,
    )
    # Fork the PII worker before anything touches the database: it loads presidio (over a second)
    # while this process opens and migrates the database.
    pii = start_pii(settings) if settings.pii_enabled else None
    try:
        return _analyze(args, settings, pii)
    finally:
        if pii is not None:
            pii.close()


def _analyze(args: argparse.Namespace, settings: Any, pii: Any) -> int:
    from sqlalchemy.exc import SQLAlchemyError

    from analyzer.db import crud
    from analyzer.db.session import session_scope
    from analyzer.pipeline import InputProgress, analyze

    engine = open_db("analyze", settings.database_url)
    if engine is None:
        return 2
    # Everything imported so far (SQLAlchemy, alembic, the sensor) lives as long as this one-shot
    # process: out of the cyclic GC's generations, full collections during the run skip it.
    import gc

    gc.freeze()
    errors: list[str] = []

    def on_error(message: str) -> None:
        errors.append(message)
        if bar is not None:  # keep the message off the progress line
            bar.close()
        report_error("analyze", message)

    progress = InputProgress()
    bar = _ProgressBar(sys.stderr, progress) if sys.stderr.isatty() and not args.no_progress else None
    started = time.monotonic()
    from datetime import UTC, datetime

    run_started = datetime.now(UTC)
    try:
        with session_scope(engine) as session:
            pii_types_before = crud_pii_types(session)
        stats = analyze(
            args.files,
            engine=engine,
            settings=settings,
            on_error=on_error,
            progress=progress,
            on_progress=bar,
            pii=pii,
        )
        # Spec verdicts (documented / shadow / zombie / orphan) follow the new traffic.
        from analyzer.db.locking import exclusive_inventory
        from analyzer.inventory.verdicts import recompute_database

        with exclusive_inventory(engine):  # stream analyzers recompute verdicts too
            recompute_database(engine)
        # Change history and new findings to the alert outbox (delivered by `apicensus serve`).
        from analyzer.alerts.wiring import publish
        from analyzer.inventory.changes import count_since

        published = publish(engine)
        with session_scope(engine) as session:
            totals = crud.inventory_totals(session=session)
            new = count_since(session, run_started)
            pii_types_after = crud_pii_types(session)
            from sqlalchemy import func, select

            from analyzer.db.models import FindingAnnouncement

            open_findings = session.scalar(
                select(func.count()).select_from(FindingAnnouncement).where(FindingAnnouncement.resolved_at.is_(None))
            )
        new_this_run = {
            "services": new.get("new_service", 0),
            "endpoints": new.get("new_endpoint", 0),
            "pii_types": len(pii_types_after - pii_types_before),
            "pii_types_total": len(pii_types_after),
            "findings": published["findings"],
            "findings_total": int(open_findings or 0),
            "changes": sum(new.values()),
        }
    except SQLAlchemyError as exc:
        if bar is not None:
            bar.close()
        from analyzer.db.session import error_reason

        reason = error_reason(exc)
        report_error("analyze", f"database error on {_safe_url(settings.database_url)}: {reason}")
        return 2
    finally:
        engine.dispose()
    if bar is not None:
        bar.close()
    elapsed = time.monotonic() - started
    _print_summary(sys.stdout, stats, totals, elapsed, settings, new_this_run)
    return 1 if errors else 0


def crud_pii_types(session: Any) -> set[str]:
    """Distinct PII types in the inventory."""
    from sqlalchemy import select

    from analyzer.db.models import PiiFinding

    return set(session.scalars(select(PiiFinding.type).distinct()))


def _print_summary(
    out: TextIO, stats: Any, totals: dict[str, int], elapsed: float, settings: Any, new: dict[str, int]
) -> None:
    """The run's table: "this run" is what is new in the inventory (or counted) by this run."""
    rate = stats.records / elapsed if elapsed > 0 else 0.0
    rows = [
        ("new services", new["services"], totals["services"]),
        ("new endpoints", new["endpoints"], totals["endpoints"]),
        ("new PII types", new["pii_types"], new["pii_types_total"]),
        ("new findings", new["findings"], new["findings_total"]),
        ("changes recorded", new["changes"], ""),
        ("exchanges", stats.records - stats.duplicates, totals["exchanges"]),
        # Distinct (endpoint, type, location, field) in the database; every detection this run.
        ("PII findings", "", totals["pii_findings"]),
        ("PII detections", stats.pii_findings if settings.pii_enabled else "off", ""),
        ("threat events", stats.events if settings.detect_enabled else "off", totals.get("events", "")),
        ("unauthenticated endpoints", "", totals["unauthenticated"]),
        ("noise requests", stats.noise, totals["noise_requests"]),
        ("malformed requests", stats.malformed, totals["malformed_requests"]),
        ("already analysed (skipped)", stats.duplicates, ""),
        ("no request line (skipped)", stats.skipped, ""),
        ("TLS connections (tls_services)", stats.tls_connections, totals.get("tls_services", "")),
    ]
    width = max(len(r[0]) for r in rows)
    out.write(f"{'':<{width}}  {'this run':>10}  {'database':>10}\n")
    for name, run_value, total in rows:
        rv = f"{run_value:,}" if isinstance(run_value, int) else str(run_value)
        tv = f"{total:,}" if isinstance(total, int) else str(total)
        out.write(f"{name:<{width}}  {rv:>10}  {tv:>10}\n")
    out.write(
        f"{stats.records:,} records in {elapsed:.1f}s ({rate:,.0f}/s) into {_safe_url(settings.database_url)}\n"
    )


def parse_since(value: str) -> Any:
    """``--since``: ISO 8601 (naive = UTC) or epoch seconds -> an aware datetime; ValueError."""
    from datetime import UTC, datetime

    text = value.strip()
    try:
        return datetime.fromtimestamp(float(text), UTC)
    except (ValueError, OverflowError, OSError):
        pass
    parsed = datetime.fromisoformat(text.replace("Z", "+00:00") if text.endswith("Z") else text)
    return parsed.astimezone(UTC) if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def _export_events(args: argparse.Namespace) -> int:
    import orjson
    from sqlalchemy.exc import SQLAlchemyError

    from analyzer.db import threats
    from analyzer.db.session import session_scope
    from analyzer.db.settings import AnalyzerSettings

    since = None
    if args.since is not None:
        try:
            since = parse_since(args.since)
        except (ValueError, OverflowError):
            report_error("export", f"--since {args.since!r} is not an ISO 8601 time or epoch seconds")
            return 2
    to_file = bool(args.output and args.output != "-")
    try:
        out: Any = open(args.output, "wb") if to_file else sys.stdout  # noqa: SIM115 - closed below
    except OSError as exc:
        report_error("export", f"cannot write {args.output}: {exc.strerror}")
        return 2
    # Bytes to a file or a real stdout; text to a replaced stdout (an embedding caller's).
    raw = out if to_file else getattr(sys.stdout, "buffer", None)
    write: Callable[[bytes], Any] = raw.write if raw is not None else (lambda b: out.write(b.decode()))
    settings = AnalyzerSettings.from_env(database_url=args.db)
    engine = open_db("export", settings.database_url)
    if engine is None:
        return 2
    try:
        with session_scope(engine) as session:
            for row in threats.event_rows_since(session=session, since=since):
                write(orjson.dumps(threats.event_json(row)) + b"\n")
    except SQLAlchemyError as exc:
        from analyzer.db.session import error_reason

        reason = error_reason(exc)
        report_error("export", f"database error on {_safe_url(settings.database_url)}: {reason}")
        return 2
    finally:
        engine.dispose()
        if to_file:
            out.close()
        else:
            sys.stdout.flush()
    return 0


def run_migrate(args: argparse.Namespace) -> int:
    from analyzer.db.settings import AnalyzerSettings
    from analyzer.ingest import prepare_shared

    settings = AnalyzerSettings.from_env(database_url=args.db)
    engine = open_db("migrate", settings.database_url, prepare=prepare_shared)
    if engine is None:
        return 2
    engine.dispose()
    print(f"schema up to date on {_safe_url(settings.database_url)}")
    return 0


def run_stream(args: argparse.Namespace) -> int:
    from analyzer.db.settings import AnalyzerSettings
    from analyzer.ingest import SharedIngestor
    from analyzer.stream import StreamOptions, WorkerCounters, run_worker
    from sensor.plumbing.obs import serve_metrics, setup_logging
    from sensor.plumbing.wire import valid_stream_name

    setup_logging("analyzer", level=args.log_level)
    if not args.source.lower().startswith(("nats://", "tls://")):
        report_error("analyzer", f"--from {args.source!r}: expected nats://HOST:PORT")
        return 2
    if not valid_stream_name(args.stream) or not valid_stream_name(args.durable):
        report_error("analyzer", "--stream/--durable: names without spaces, dots, '*', '>' or slashes")
        return 2
    if args.idle_exit is not None and args.idle_exit <= 0:
        report_error("analyzer", "--idle-exit must be > 0")
        return 2
    if args.dedupe_days is not None and args.dedupe_days <= 0:
        report_error("analyzer", "--dedupe-days must be > 0")
        return 2
    if args.ack_wait < 1:
        report_error("analyzer", "--ack-wait must be >= 1 second")
        return 2
    settings = AnalyzerSettings.from_env(
        database_url=args.db,
        pii_enabled=False if args.no_pii else None,
        detect_enabled=False if args.no_detect else None,
    )
    engine = _retrying_open(settings.database_url, args.idle_exit)
    if engine is None:
        return 2
    ingestor = SharedIngestor(engine, settings, on_error=lambda m: report_error("analyzer", m))
    counters = WorkerCounters()
    if args.metrics:
        try:
            serve_metrics(args.metrics, "apicensus_analyzer", lambda: counters.values)
        except (OSError, ValueError) as exc:
            report_error("analyzer", f"cannot serve metrics on {args.metrics}: {exc}")
            return 2
    options = StreamOptions(
        url=args.source,
        stream=args.stream,
        durable=args.durable,
        idle_exit=args.idle_exit,
        ack_wait=args.ack_wait,
        dedupe_days=args.dedupe_days,
    )
    try:
        return run_worker(options, ingestor, counters)
    finally:
        ingestor.close()
        engine.dispose()


def _retrying_open(url: str, idle_exit: float | None) -> Any:
    """The engine on a migrated database; a database that is not up yet is waited for (a
    service starting beside PostgreSQL), up to ``idle_exit`` seconds when that is set."""
    import logging

    from sqlalchemy.exc import OperationalError

    from analyzer.db.session import make_engine
    from analyzer.ingest import prepare_shared

    log = logging.getLogger("apicensus.analyzer")
    started = time.monotonic()
    delay = 0.5
    while True:
        try:
            engine = make_engine(url, pool_pre_ping=True)
        except Exception as exc:  # noqa: BLE001 - bad URL or driver: say so, no retry helps
            report_error("analyzer", f"invalid database URL {_safe_url(url)}: {exc}")
            return None
        try:
            prepare_shared(engine)
            return engine
        except OperationalError as exc:
            engine.dispose()
            if idle_exit is not None and time.monotonic() - started > idle_exit:
                from analyzer.db.session import error_reason

                reason = error_reason(exc)
                report_error("analyzer", f"cannot use database {_safe_url(url)}: {reason}")
                return None
            log.warning("database not reachable yet; retrying", extra={"fields": {"db": _safe_url(url)}})
            time.sleep(delay)
            delay = min(delay * 2, 10.0)


def run_export(args: argparse.Namespace) -> int:
    import orjson
    from sqlalchemy.exc import SQLAlchemyError

    from analyzer.db import crud
    from analyzer.db.session import session_scope
    from analyzer.db.settings import AnalyzerSettings

    if args.format == "openapi" and not args.host:
        report_error("export", "--format openapi needs --host HOST")
        return 2
    if args.since is not None and args.format != "events":
        report_error("export", "--since applies to --format events only")
        return 2
    if args.format == "events":
        return _export_events(args)
    settings = AnalyzerSettings.from_env(database_url=args.db)
    engine = open_db("export", settings.database_url)
    if engine is None:
        return 2
    try:
        from analyzer.inventory.tls_services import add_tls_to_export
        from analyzer.inventory.verdicts import add_to_export

        with session_scope(engine) as session:
            if args.format == "openapi":
                from analyzer.inventory.openapi_export import build_openapi

                document = build_openapi(session=session, host=args.host.lower())
            else:
                document = add_tls_to_export(session, add_to_export(session, crud.export_inventory(session=session)))
    except SQLAlchemyError as exc:
        from analyzer.db.session import error_reason

        reason = error_reason(exc)
        report_error("export", f"database error on {_safe_url(settings.database_url)}: {reason}")
        return 2
    finally:
        engine.dispose()
    if document is None:
        report_error("export", f"no service {args.host!r} in the inventory")
        return 2
    data = orjson.dumps(document, option=orjson.OPT_INDENT_2) + b"\n"
    if args.output and args.output != "-":
        try:
            with open(args.output, "wb") as fh:
                fh.write(data)
        except OSError as exc:
            report_error("export", f"cannot write {args.output}: {exc.strerror}")
            return 2
    else:
        lines = data.count(b"\n")
        if args.output is None and sys.stdout.isatty() and lines > TTY_LINES:
            report_error(
                "export",
                f"{lines:,} lines would go to the terminal: write them with --output FILE, pipe them "
                "(| less), or pass --output - to print anyway",
            )
            return 2
        sys.stdout.buffer.write(data)
        sys.stdout.flush()
    return 0
