"""Detection settings: one class, read from the environment, overridable per call.

Every bound on the engine's memory is here, with what it costs; every threshold a rule uses is
here, with why it has the value it has. Windows are in seconds of the stream's clock.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, replace
from typing import Any

DEFAULT_TRUSTED_PROXIES: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class DetectSettings:
    # Deployment secret for the keyed hashes of identities, credentials and PII values: every
    # analyzer of one inventory must use the same one (or the same actor gets two ids).
    secret: bytes = b""
    # Peers whose X-Forwarded-For / Forwarded hops are believed (load balancers, ingress).
    trusted_proxies: tuple[str, ...] = DEFAULT_TRUSTED_PROXIES

    # --- bounds (each is a hard cap; the LRU key is evicted first) ---
    # Identities whose learned objects are kept (bola/enumeration): x max_owned_per_identity
    # 8-byte hashes, i.e. 20,000 x 512 x ~60 B ~ 600 MB worst case; typical use is far less.
    max_identities: int = 20_000
    # Per-identity tables (actors, owned objects, known endpoints, data flows) keep keys used once
    # in a probation segment of this many keys, evicted first: one-request identities (one-shot
    # tokens) cost at most this much, and never push out identities seen twice.
    probation_keys: int = 2_000
    max_owned_per_identity: int = 512
    # Objects whose owner (the identity whose responses first handed them out) is remembered,
    # ~100 B each: 200,000 ~ 20 MB.
    max_objects: int = 200_000
    # Keys (actor x endpoint x window) per windowed table; each holds a few capped sets.
    max_window_keys: int = 50_000
    # Exact members kept by a distinct counter before it turns into a HyperLogLog (p=10, 1 KiB).
    exact_distinct: int = 64
    # Events kept in memory (the inventory holds them all; this is what is still updatable).
    max_events: int = 20_000
    # Late exchanges: windows stay open this long after the newest timestamp passed their end.
    lateness: float = 120.0
    # Bytes of a body parsed as JSON or scanned for injection.
    max_body_bytes: int = 64 * 1024

    # --- learning ---
    # Traffic seconds from the first exchange before learned baselines (bfla groups, anomaly
    # model) judge anything; they keep learning afterwards.
    learning_seconds: float = 900.0

    # --- bola ---
    bola_window: float = 86_400.0  # slow, human-paced walks count: a day, not a burst
    bola_min_objects: int = 3  # distinct objects never seen in the identity's responses, 2xx
    # A template is shared by design (a catalogue) when this many identities fetch unlearned ids.
    bola_shared_identities: int = 5

    # --- enumeration ---
    enum_window: float = 300.0
    enum_min_distinct: int = 50  # Akto's: more than 50 distinct values in 5 minutes
    enum_min_run: int = 15  # consecutive ids walked in order (+-1 or a constant small step)
    enum_min_404: int = 20  # distinct ids of which ...
    enum_404_share: float = 0.5  # ... at least this share answered 404

    # --- mass_harvest ---
    harvest_window: float = 3600.0
    harvest_min_records: int = 500  # PII records in the window before anything is judged
    harvest_peer_factor: float = 10.0  # times the peers' median total
    harvest_page_factor: float = 4.0  # times the peers' 95th-percentile records per response
    harvest_min_peers: int = 3

    # --- credential_stuffing / brute_force ---
    login_window: float = 600.0
    stuffing_min_users: int = 10  # distinct user names from one actor ...
    stuffing_fail_share: float = 0.6  # ... mostly refused
    brute_min_failures: int = 10  # failed attempts for one user name from one actor

    # --- scanner ---
    scanner_window: float = 300.0
    scanner_min_404_paths: int = 20  # distinct nonexistent paths
    scanner_min_known_paths: int = 3  # distinct well-known scanner probes

    # --- bfla ---
    bfla_window: float = 3600.0
    # An operation is privileged when at most this share of the identities using the service
    # use it (and at least bfla_min_population identities were seen).
    bfla_max_group_share: float = 0.2
    bfla_min_population: int = 10

    # --- anomaly ---
    anomaly_window: float = 300.0
    anomaly_seed: int = 7
    anomaly_min_train: int = 50  # actor-windows before a model is fitted
    anomaly_max_train: int = 4096  # training rows kept (bottom-k by hash: order-free)
    anomaly_retrain_seconds: float = 86_400.0
    anomaly_min_requests: int = 10  # quieter actor-windows are not scored
    anomaly_min_feature_z: float = 6.0  # the top feature must be this far off the baseline
    # Hours (UTC) counted as night for the night-time share.
    night_hours: tuple[int, ...] = (0, 1, 2, 3, 4, 5)

    # --- injection ---
    injection_window: float = 3600.0

    @classmethod
    def from_env(cls, **overrides: Any) -> DetectSettings:
        """``APICENSUS_DETECT_SECRET`` and ``APICENSUS_TRUSTED_PROXIES`` (comma-separated CIDRs)."""
        secret = os.environ.get("APICENSUS_DETECT_SECRET", "")
        proxies = tuple(p.strip() for p in os.environ.get("APICENSUS_TRUSTED_PROXIES", "").split(",") if p.strip())
        base = cls(secret=secret.encode(), trusted_proxies=proxies)
        return replace(base, **{k: v for k, v in overrides.items() if v is not None})
