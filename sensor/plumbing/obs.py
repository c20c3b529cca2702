"""Observability shared by every long-running part: JSON logs and Prometheus metrics.

Logs: one JSON object per line on stderr (``ts``, ``level``, ``component``, ``logger``, ``msg``
and any ``extra={"fields": {...}}``), so a log shipper can index them without parsing prose.
``APICENSUS_LOG_FORMAT=text`` gives plain lines for a terminal.

Metrics: parts keep plain counters in dicts (the sensor's hot loop must not pay for a metrics
library per packet); :func:`serve_metrics` exposes such dicts in the Prometheus text format by
reading them at scrape time.
"""

from __future__ import annotations

import logging
import os
import sys
import time
from collections.abc import Callable, Iterator, Mapping
from typing import Any

import orjson

from sensor.plumbing.bind import parse_bind

LOG_FORMAT_ENV = "APICENSUS_LOG_FORMAT"


class JsonFormatter(logging.Formatter):
    def __init__(self, component: str) -> None:
        super().__init__()
        self.component = component

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "ts": time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(record.created)) + f".{int(record.msecs):03d}Z",
            "level": record.levelname.lower(),
            "component": self.component,
            "logger": record.name,
            "msg": record.getMessage(),
        }
        fields = getattr(record, "fields", None)
        if isinstance(fields, Mapping):
            for key, value in fields.items():
                entry.setdefault(str(key), value)
        if record.exc_info:
            entry["error"] = self.formatException(record.exc_info)
        return orjson.dumps(entry, default=str).decode()


def setup_logging(component: str, *, fmt: str | None = None, level: str = "info") -> None:
    """Route the root logger to stderr as JSON lines (or text), once per process."""
    fmt = (fmt or os.environ.get(LOG_FORMAT_ENV) or "json").lower()
    handler = logging.StreamHandler(sys.stderr)
    if fmt == "text":
        handler.setFormatter(logging.Formatter(f"%(asctime)s {component} %(levelname)s %(name)s: %(message)s"))
    else:
        handler.setFormatter(JsonFormatter(component))
    root = logging.getLogger()
    for old in list(root.handlers):
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(level.upper())
    # Libraries that log per request or per reconnect attempt stay at warning.
    for noisy in ("httpx", "httpcore", "nats", "asyncio", "presidio-analyzer", "alembic.runtime.plugins"):
        logging.getLogger(noisy).setLevel(max(logging.WARNING, root.level))


# Metric kinds for names that are not counters (everything else is a monotonic counter).
GAUGE_HINTS = (
    "flows",
    "spool_batches",
    "spool_bytes",
    "spool_exchanges",
    "batch_lag_seconds",
    "destination_up",
    "workers",
    "pending",
    "connections_open",
    "uptime_seconds",
    "stream_lag",
    "_count",
    "database_up",
)


class DictCollector:
    """A prometheus_client collector reading ``source()`` (name -> number) at scrape time."""

    def __init__(self, prefix: str, source: Callable[[], Mapping[str, Any]], gauges: tuple[str, ...] = GAUGE_HINTS):
        self.prefix = prefix
        self.source = source
        self.gauges = gauges

    def collect(self) -> Iterator[Any]:
        from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily

        try:
            values = dict(self.source())
        except Exception:  # noqa: BLE001 - a scrape must not kill the part it observes
            logging.getLogger("apicensus.metrics").debug("metrics source failed", exc_info=True)
            return
        for name in sorted(values):
            value = values[name]
            if isinstance(value, list) and name.startswith("per_"):
                yield from self._labelled(name.removeprefix("per_"), value)
                continue
            if isinstance(value, bool):
                value = int(value)
            if not isinstance(value, int | float):
                continue
            metric = f"{self.prefix}_{_metric_name(name)}"
            if self._is_gauge(name):
                yield GaugeMetricFamily(metric, f"{name} (gauge)", value=value)
            else:
                yield CounterMetricFamily(metric, f"{name} (counter)", value=value)

    def _is_gauge(self, name: str) -> bool:
        return any(name == g or name.endswith(g) for g in self.gauges)

    def _labelled(self, label: str, rows: list[Any]) -> Iterator[Any]:
        """``per_worker: [{...}, {...}]`` -> ``<prefix>_worker_<name>{worker="0"}`` families."""
        from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily

        names = sorted({k for row in rows if isinstance(row, Mapping) for k, v in row.items()
                        if isinstance(v, int | float) and not isinstance(v, bool)})
        for name in names:
            metric = f"{self.prefix}_{label}_{_metric_name(name)}"
            kind = GaugeMetricFamily if self._is_gauge(name) else CounterMetricFamily
            family = kind(metric, f"{name} per {label}", labels=[label])
            for index, row in enumerate(rows):
                value = row.get(name) if isinstance(row, Mapping) else None
                if isinstance(value, int | float) and not isinstance(value, bool):
                    family.add_metric([str(index)], value)
            yield family


def _metric_name(name: str) -> str:
    cleaned = "".join(c if c.isalnum() or c == "_" else "_" for c in name.lower())
    return cleaned.removesuffix("_total")


def serve_metrics(bind: str, prefix: str, source: Callable[[], Mapping[str, Any]]) -> Any:
    """Serve ``/metrics`` on ``bind`` from a background thread; returns the server."""
    from prometheus_client import CollectorRegistry, start_http_server

    host, port = parse_bind(bind, allow_port_zero=True)
    registry = CollectorRegistry()
    registry.register(DictCollector(prefix, source))
    server, _thread = start_http_server(port, addr=host, registry=registry)
    return server


def metrics_text(prefix: str, source: Callable[[], Mapping[str, Any]]) -> bytes:
    """The Prometheus text exposition of ``source()`` (for a route of an existing web app)."""
    from prometheus_client import CollectorRegistry, generate_latest

    registry = CollectorRegistry()
    registry.register(DictCollector(prefix, source))
    return generate_latest(registry)
