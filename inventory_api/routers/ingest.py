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
from sqlalchemy.exc import SQLAlchemyError

from inventory_api.deps import Principal, bounded_body, require
from inventory_api.schemas import IngestPublic, error_responses
from inventory_api.security import Permission

router = APIRouter(tags=["ingest"])

Ingester = Annotated[Principal, Depends(require(Permission.INGEST))]
# Compressed body limit; the decoded batch has its own bound (sensor.plumbing.wire.MAX_BATCH_BYTES).
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
    try:
        records = wire.decode_batch(data, limit=wire.MAX_BATCH_BYTES)
    except wire.BatchFormatError as exc:
        code = status.HTTP_413_CONTENT_TOO_LARGE if "larger than" in str(exc) else status.HTTP_400_BAD_REQUEST
        raise HTTPException(code, detail=str(exc)) from exc
    counters = request.app.state.counters
    counters["ingest_batches"] += 1
    counters["ingest_exchanges_received"] += len(records)
    try:
        ingestor = await run_in_threadpool(_ingestor, request)
        result = await run_in_threadpool(ingestor.ingest, records)
    except SQLAlchemyError as exc:
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
