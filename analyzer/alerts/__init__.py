"""Alerts to the SOC: canonical alert events, OCSF/CEF/Slack/Splunk/syslog formats, delivery policy,
a persistent outbox and a delivery worker. See ``analyzer/alerts/README.md``.

Typical wiring (phase 2 does this in ``apicensus serve`` and the analyzer)::

    outbox = SqlOutbox(engine)                       # tables: alert_outbox, alert_delivery_status
    dispatcher = AlertDispatcher(outbox=outbox, destinations=load_destinations)
    dispatcher.submit([alert_from_finding(f, service=...) for f in new_findings])
    worker = DeliveryWorker(outbox=outbox, destinations=load_destinations)
    worker.start(); ...; worker.stop()
"""

from analyzer.alerts.destinations import (
    Destination,
    DestinationError,
    DestinationKind,
    Rule,
    SyslogTransport,
    parse_destination,
)
from analyzer.alerts.dispatch import AlertDispatcher, DispatchReport
from analyzer.alerts.model import (
    ActorRef,
    AlertEvent,
    AlertKind,
    EndpointRef,
    ServiceRef,
    Severity,
    alert_from_change_event,
    alert_from_finding,
    alert_from_threat_event,
    make_evidence,
    scrub,
)
from analyzer.alerts.ocsf import to_ocsf
from analyzer.alerts.outbox import DestinationStatus, Enqueued, InMemoryOutbox, ItemState, Outbox, OutboxItem
from analyzer.alerts.outbox_sql import ALERTS_METADATA, SqlOutbox, create_tables
from analyzer.alerts.settings import AlertSettings
from analyzer.alerts.webhook import SignatureError, verify_signature
from analyzer.alerts.worker import DeliveryWorker, RoundReport, status_table

__all__ = [
    "ALERTS_METADATA",
    "ActorRef",
    "AlertDispatcher",
    "AlertEvent",
    "AlertKind",
    "AlertSettings",
    "DeliveryWorker",
    "Destination",
    "DestinationError",
    "DestinationKind",
    "DestinationStatus",
    "DispatchReport",
    "EndpointRef",
    "Enqueued",
    "InMemoryOutbox",
    "ItemState",
    "Outbox",
    "OutboxItem",
    "RoundReport",
    "Rule",
    "ServiceRef",
    "Severity",
    "SignatureError",
    "SqlOutbox",
    "SyslogTransport",
    "alert_from_change_event",
    "alert_from_finding",
    "alert_from_threat_event",
    "create_tables",
    "make_evidence",
    "parse_destination",
    "scrub",
    "status_table",
    "to_ocsf",
    "verify_signature",
]
