"""``apicensus report pii``: the PII compliance document, written without a server.

Standard library only at module level (the dispatcher imports every part for each command)."""

from __future__ import annotations

import argparse
import sys
from datetime import UTC, datetime
from typing import Any

from analyzer.cli import guarded, open_db, report_error


def register(subparsers: Any) -> None:
    r = subparsers.add_parser("report", help="compliance documents", description="Write compliance documents.")
    rs = r.add_subparsers(dest="report_command", required=True, metavar="REPORT")
    p = rs.add_parser(
        "pii",
        help="the PII exposure report (HTML, CSV or JSON)",
        description="Observation period, executive summary (unauthenticated PII first), credentials apart, "
        "breakdown by owner/application/business unit, trends, findings with remediation advice.",
    )
    p.add_argument("--format", choices=["html", "csv", "json"], default="html")
    p.add_argument("--output", "-o", metavar="FILE", required=True, help="where to write it ('-': stdout)")
    p.add_argument("--db", metavar="URL", help="database URL (default: $APICENSUS_DATABASE_URL, else sqlite)")
    p.add_argument("--service", metavar="HOST", help="only this service")
    p.add_argument("--owner", metavar="OWNER", help="only endpoints owned by OWNER (inherited from the service)")
    p.add_argument("--since", metavar="DATE", help="only PII seen at or after DATE (ISO 8601, UTC when no offset)")
    p.add_argument("--until", metavar="DATE", help="only PII first seen before DATE")
    p.add_argument("--shape-only", action="store_true", help="mask samples to their shape (as viewers see them)")
    p.set_defaults(func=guarded("report pii", run_pii))


def _instant(text: str | None, flag: str) -> datetime | None:
    if text is None:
        return None
    try:
        value = datetime.fromisoformat(text)
    except ValueError:
        raise ValueError(f"{flag} {text!r}: expected an ISO 8601 date or time, e.g. 2026-11-01") from None
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def run_pii(args: argparse.Namespace) -> int:
    import orjson
    from sqlalchemy.exc import SQLAlchemyError

    from analyzer.db.session import session_scope
    from analyzer.db.settings import AnalyzerSettings
    from analyzer.inventory import compliance

    try:
        filters = compliance.Filters(
            service=args.service, owner=args.owner,
            since=_instant(args.since, "--since"), until=_instant(args.until, "--until"),
        )
    except ValueError as exc:
        report_error("report pii", str(exc))
        return 2
    settings = AnalyzerSettings.from_env(database_url=args.db)
    engine = open_db("report pii", settings.database_url)
    if engine is None:
        return 2
    full = not args.shape_only
    try:
        with session_scope(engine) as session:
            if args.format == "csv":
                rows, contexts = compliance.load(session, filters, full_samples=full)
                data = compliance.render_csv(rows, contexts).encode("utf-8")
            else:
                doc = compliance.build(session, filters, full_samples=full)
                if args.format == "json":
                    data = orjson.dumps(doc, option=orjson.OPT_INDENT_2) + b"\n"
                else:
                    rows, _ = compliance.load(session, filters, full_samples=full)
                    data = compliance.render_html(doc, rows, full_samples=full).encode("utf-8")
    except SQLAlchemyError as exc:
        from analyzer.db.session import error_reason

        reason = error_reason(exc)
        report_error("report pii", f"database error: {reason}")
        return 2
    finally:
        engine.dispose()
    if args.output == "-":
        sys.stdout.buffer.write(data)
        sys.stdout.flush()
        return 0
    try:
        with open(args.output, "wb") as fh:
            fh.write(data)
    except OSError as exc:
        report_error("report pii", f"cannot write {args.output}: {exc.strerror}")
        return 2
    print(f"wrote {args.output} ({len(data):,} bytes, {args.format})")
    return 0
