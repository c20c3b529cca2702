"""``POST /api/v1/ingest``: a sensor ships a batch of exchange records (``sensor`` keys).

The body is what ``apicensus sensor --ship http(s)://.../api/v1/ingest`` sends: JSON lines, one
exchange record each, compressed as ``Content-Encoding`` says (zstd, gzip or none). The batch is
analysed before the answer, through the same :class:`analyzer.ingest.SharedIngestor` as the NATS
analyzers, so a ``200`` means the exchanges are in the inventory; records already analysed (a
batch re-sent after a lost answer) are counted as duplicates, not twice.
"""

from __future__ import annotations

import threading
from typing import Annotated, Any

from fastapi import APIRouter, Depends, HTTPException, Request, status
from fastapi.concurrency import run_in_threadpool
from sqlalchemy.exc import DataError, DisconnectionError, InterfaceError, OperationalError
from sqlalchemy.exc import TimeoutError as PoolTimeout

from inventory_api.deps import Principal, bounded_body, require
from inventory_api.schemas import IngestPublic, error_responses
from inventory_api.security import Permission

router = APIRouter(tags=["ingest"])

Ingester = Annotated[Principal, Depends(require(Permission.INGEST))]
# Compressed body limit; the decoded batch has its own bounds (sensor.plumbing.wire.MAX_BATCH_BYTES
# and MAX_BATCH_RECORDS), checked while it is decompressed.
MAX_INGEST_BYTES = 64 * 1024 * 1024
_ENCODINGS = {"", "identity", "zstd", "gzip", "x-gzip"}
_lock = threading.Lock()


def _ingestor(request: Request) -> Any:
    """One per service process, created on first use (PII detection loads presidio)."""
    state = request.app.state
    with _lock:
        if getattr(state, "ingestor", None) is None:
            from analyzer.db.settings import AnalyzerSettings
            from analyzer.ingest import SharedIngestor

            settings = AnalyzerSettings.from_env(database_url=state.settings.database_url)
            state.ingestor = SharedIngestor(state.engine, settings)
        return state.ingestor


@router.post(
    "/ingest",
    response_model=IngestPublic,
    responses=error_responses(400, 413, 415, 503),
    openapi_extra={
        "requestBody": {
            "required": True,
            "content": {"application/x-ndjson": {"schema": {"type": "string", "format": "binary"}}},
        }
    },
)
async def ingest(
    request: Request,
    _principal: Ingester,
    data: Annotated[bytes, Depends(bounded_body(MAX_INGEST_BYTES, "batch"))],
) -> IngestPublic:
    from sensor.plumbing import wire

    encoding = request.headers.get("content-encoding", "").strip().lower()
    if encoding not in _ENCODINGS:
        raise HTTPException(status.HTTP_415_UNSUPPORTED_MEDIA_TYPE, detail=f"unsupported Content-Encoding {encoding!r}")
    if not data.strip():
        raise HTTPException(status.HTTP_400_BAD_REQUEST, detail="empty body: send JSON lines of exchange records")
    counters = request.app.state.counters
    try:
        # Decoding is CPU work: off the event loop, and before (never under) the inventory lock.
        records = await run_in_threadpool(
            wire.decode_batch, data, limit=wire.MAX_BATCH_BYTES, max_records=wire.MAX_BATCH_RECORDS
        )
    except wire.BatchFormatError as exc:
        counters["ingest_batches_rejected"] += 1
        code = status.HTTP_413_CONTENT_TOO_LARGE if isinstance(exc, wire.BatchTooLarge) else status.HTTP_400_BAD_REQUEST
        raise HTTPException(code, detail=str(exc)) from exc
    counters["ingest_batches"] += 1
    counters["ingest_exchanges_received"] += len(records)
    try:
        ingestor = await run_in_threadpool(_ingestor, request)
        result = await run_in_threadpool(ingestor.ingest, records)
    except DataError as exc:
        # A value the database refuses (an integer out of range...): retrying cannot help, so the
        # batch is rejected whole (its transaction rolled back) and the sender told so.
        counters["ingest_batches_rejected"] += 1
        reason = str(exc.orig).strip().splitlines()[0] if exc.orig else type(exc).__name__
        raise HTTPException(status.HTTP_400_BAD_REQUEST, detail=f"batch rejected: a record cannot be stored: {reason}") from exc
    except (OperationalError, InterfaceError, DisconnectionError, PoolTimeout) as exc:
        counters["ingest_database_errors"] += 1
        # The sensor keeps the batch and retries: nothing is lost.
        raise HTTPException(status.HTTP_503_SERVICE_UNAVAILABLE, detail="database unavailable, retry later") from exc
    counters["ingest_exchanges_new"] += result.new
    counters["ingest_exchanges_duplicate"] += result.duplicates
    counters["pii_findings"] += result.pii_findings
    request.app.state.verdicts_dirty = True
    return IngestPublic(
        received=result.received,
        new=result.new,
        duplicates=result.duplicates,
        skipped=result.skipped,
        noise=result.noise,
        pii_findings=result.pii_findings,
    )
