"""``POST /api/v1/ingest``: a sensor ships a batch of exchange records (``sensor`` keys).

The body is what ``apicensus sensor --ship http(s)://.../api/v1/ingest`` sends: JSON lines, one
exchange record each, compressed as ``Content-Encoding`` says (zstd, gzip or none). The batch is
analysed before the answer, through the same :class:`analyzer.ingest.SharedIngestor` as the NATS
analyzers (in a child process: :mod:`analyzer.ingest_process`), so a ``200`` means the exchanges are in the inventory; records already analysed (a
batch re-sent after a lost answer) are counted as duplicates, not twice.
"""

from __future__ import annotations

import threading
import time
from typing import Annotated, Any

from fastapi import APIRouter, Depends, HTTPException, Request, status
from fastapi.concurrency import run_in_threadpool

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
    """One ingest child process per service process, started on first use (PII detection loads
    presidio there): batches are decoded, analysed and written off this process's event loop and
    GIL, and at a lower CPU priority (``ingest_niceness``), so reads stay fast during ingest
    (analyzer/ingest_process.py)."""
    state = request.app.state
    with _lock:
        if getattr(state, "ingestor", None) is None:
            from analyzer.ingest_process import IngestProcess

            state.ingestor = IngestProcess(
                state.settings.database_url, niceness=state.settings.ingest_niceness
            )
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
    ingestor = _ingestor(request)
    outcome = await run_in_threadpool(
        ingestor.ingest, data, limit=wire.MAX_BATCH_BYTES, max_records=wire.MAX_BATCH_RECORDS
    )
    if outcome.kind in ("too_large", "unreadable", "data_error"):
        counters["ingest_batches_rejected"] += 1
    if outcome.kind == "too_large":
        raise HTTPException(status.HTTP_413_CONTENT_TOO_LARGE, detail=outcome.detail)
    if outcome.kind == "unreadable":  # truncated frames included: a batch is taken whole or not at all
        raise HTTPException(status.HTTP_400_BAD_REQUEST, detail=outcome.detail)
    counters["ingest_batches"] += 1
    counters["ingest_exchanges_received"] += outcome.received
    if outcome.kind == "data_error":
        # A value the database refuses: retrying cannot help, so the batch is rejected whole (its
        # transaction rolled back) and the sender told so.
        raise HTTPException(
            status.HTTP_400_BAD_REQUEST, detail=f"batch rejected: a record cannot be stored: {outcome.detail}"
        )
    if outcome.kind == "unavailable" or outcome.result is None:
        counters["ingest_database_errors"] += 1
        # The sensor keeps the batch and retries: nothing is lost.
        raise HTTPException(status.HTTP_503_SERVICE_UNAVAILABLE, detail="database unavailable, retry later")
    result = outcome.result
    counters["ingest_exchanges_new"] += result.new
    counters["ingest_exchanges_duplicate"] += result.duplicates
    counters["pii_findings"] += result.pii_findings
    request.app.state.verdicts_dirty = True
    request.app.state.consolidate_due = True
    request.app.state.last_ingest = time.monotonic()
    return IngestPublic(
        received=result.received,
        new=result.new,
        duplicates=result.duplicates,
        skipped=result.skipped,
        noise=result.noise,
        pii_findings=result.pii_findings,
    )
