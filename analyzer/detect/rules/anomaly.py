"""anomaly: an IsolationForest over per-actor windows, trained on a baseline of the stream itself.

Each closed actor-window (``anomaly_window`` seconds) becomes one row of :data:`FEATURES` (a
pandas frame when scored). Rows of the first ``learning_seconds`` of traffic train the model
(``anomaly_seed`` fixes it); later windows are scored and an event is raised when a window is
more isolated than 99% of the training windows, one feature lies ``anomaly_min_feature_z``
robust deviations off the population's baseline, and -- for an actor with a history -- also off
its own past windows (beyond the highest it ever showed: a batch job that always runs hot is not news). The features named in the
event, largest first, explain it. The
training sample keeps growing (bottom-k by hash, so the same rows whatever the batching; windows
that alerted are left out) and the model is refitted every ``anomaly_retrain_seconds``.

Persistence: the model is its training matrix plus its parameters (:meth:`model_bytes`, an
``.npz``); loading refits it, which with the same seed and rows is the same forest. That keeps
the state free of pickles (nothing executable is read back from the inventory) and independent
of the scikit-learn version's pickle format.
"""

from __future__ import annotations

import io
import math
from typing import TYPE_CHECKING, Any

from analyzer.detect.context import Seen
from analyzer.detect.model import ActorRef
from analyzer.detect.rules.base import Hasher, Hit, Rule, Sink, envelope_failed, expired
from analyzer.detect.settings import DetectSettings
from analyzer.detect.windows import BottomK, CappedSet, DistinctCounter, LruTable, window_start

if TYPE_CHECKING:
    from sklearn.ensemble import IsolationForest
# numpy, scikit-learn and pandas are imported when a model is first fitted or scored (seconds of
# import an analyzer that never reaches the end of the learning period does not pay; numpy
# alone was 0.08 s of CPU, ~1% of `apicensus analyze` on 20,000 exchanges).

FEATURES = (
    "requests",
    "distinct_endpoints",
    "distinct_ids",
    "error_share",
    "pii_records",
    "new_endpoint_share",
    "night_share",
)
# Smallest scale per feature for the robust deviation (a baseline with no spread is not "0").
_SCALE_FLOOR = (5.0, 2.0, 3.0, 0.1, 20.0, 0.1, 0.2)
KNOWN_ENDPOINTS = 256


def _known_endpoints() -> CappedSet:
    return CappedSet(KNOWN_ENDPOINTS)


def _new_history() -> list[float]:
    """An actor's baseline: [windows, highest value of each feature]."""
    return [0.0] * (len(FEATURES) + 1)


class _Acc:
    __slots__ = ("ip", "identity", "key", "host", "requests", "errors", "endpoints", "ids", "pii", "new", "night")

    def __init__(self, ip: str, identity: str | None, key: str | None, host: str) -> None:
        self.ip, self.identity, self.key, self.host = ip, identity, key, host
        self.requests = self.errors = self.pii = self.new = self.night = 0
        self.endpoints = DistinctCounter()
        self.ids = DistinctCounter()

    def row(self) -> list[float]:
        n = max(1, self.requests)
        return [
            float(self.requests),
            float(self.endpoints.count()),
            float(self.ids.count()),
            self.errors / n,
            float(self.pii),
            self.new / n,
            self.night / n,
        ]

    def to_state(self) -> list[Any]:
        return [self.ip, self.identity, self.key, self.host, self.requests, self.errors, self.pii, self.new,
                self.night, self.endpoints.to_state(), self.ids.to_state()]

    @classmethod
    def from_state(cls, d: list[Any]) -> _Acc:
        acc = cls(d[0], d[1], d[2], d[3])
        acc.requests, acc.errors, acc.pii, acc.new, acc.night = d[4], d[5], d[6], d[7], d[8]
        acc.endpoints = DistinctCounter.from_state(d[9])
        acc.ids = DistinctCounter.from_state(d[10])
        return acc


class AnomalyRule(Rule):
    kind = "anomaly"
    severity = "medium"
    title = "Anomalous behaviour: an actor's window is unlike the baseline"

    def __init__(self, settings: DetectSettings, hasher: Hasher) -> None:
        super().__init__(settings, hasher)
        self.window = settings.anomaly_window
        self.windows: LruTable[tuple[str, float], _Acc] = LruTable(settings.max_window_keys)
        self.known: LruTable[str, CappedSet] = LruTable(settings.max_identities, settings.probation_keys)
        self.training = BottomK(settings.anomaly_max_train)
        self.history: LruTable[str, list[float]] = LruTable(settings.max_identities)
        self.first_ts: float | None = None
        self.fitted_at: float | None = None
        self.model: IsolationForest | None = None
        self.fit_rows: list[list[float]] = []
        self.threshold = 0.0
        self.median: Any = None  # numpy arrays, set by _fit (read only once a model exists)
        self.scale: Any = None

    def observe(self, seen: Seen, sink: Sink) -> None:
        x = seen.x
        if self.first_ts is None:
            self.first_ts = x.ts
        actor = seen.actor
        key = (actor.key, window_start(x.ts, self.window))
        acc = self.windows.get(key)
        if acc is None:  # the actor's reference (hint, key) only for a new window
            ref = actor.ref()
            acc = self.windows.setdefault(key, _Acc, actor.ip, ref.identity, ref.key, x.host)
        acc.requests += 1
        if x.status is None or x.status >= 400 or envelope_failed(seen):
            acc.errors += 1
        endpoint = seen.endpoint_hash(self.hash)
        acc.endpoints.add(endpoint)
        known = self.known.setdefault(actor.key, _known_endpoints)
        if endpoint not in known:
            acc.new += 1
            known.add(endpoint)
        for _name, value in seen.request_ids:
            acc.ids.add(self.hash(value))
        acc.pii += seen.pii_records
        if int(x.ts // 3600 % 24) in self.settings.night_hours:
            acc.night += 1

    def _learn(self, key: tuple[str, float], row: list[float]) -> None:
        """An unremarkable closed window joins the training sample and its actor's own baseline
        (its row computed once by the caller: ~one window per actor, 20,000 for as many one-shot
        identities, and each row counts two sketches)."""
        self.training.add(self.hash(f"{key[0]}\x00{key[1]}"), row)
        self._remember(key[0], row)

    def _remember(self, actor_key: str, row: list[float]) -> None:
        """The actor's own baseline: how many unremarkable windows, and each feature's highest value."""
        own = self.history.setdefault(actor_key, _new_history)
        own[0] += 1
        for i, v in enumerate(row, 1):
            if v > own[i]:  # max(own[i], v): the first of equals stays
                own[i] = v

    def _fit(self, now: float, fit_rows: list[list[float]] | None = None) -> None:
        import numpy as np
        from sklearn.ensemble import IsolationForest

        self.fit_rows = fit_rows if fit_rows is not None else self.training.rows()
        rows = np.asarray(self.fit_rows, dtype=float)
        self.model = IsolationForest(n_estimators=100, random_state=self.settings.anomaly_seed).fit(rows)
        scores = self.model.score_samples(rows)
        self.median = np.median(rows, axis=0)
        q75, q25 = np.percentile(rows, [75, 25], axis=0)
        self.scale = np.maximum((q75 - q25) / 1.349, np.asarray(_SCALE_FLOOR))
        # The score below which 1 window in 100 of the ordinary baseline falls: isolated, not
        # merely rare. Ordinary: no feature anomaly_min_feature_z deviations off the population.
        # The baseline's own outliers (a batch job's, an admin's windows) are judged against their
        # own history; counted here they set the bar, and in a small deployment, where a few such
        # actors are more than 1% of the windows, nothing new could ever be more isolated.
        ordinary = np.max(np.abs((rows - self.median) / self.scale), axis=1) < self.settings.anomaly_min_feature_z
        base = scores[ordinary] if int(ordinary.sum()) >= self.settings.anomaly_min_train else scores
        self.threshold = float(np.quantile(base, 0.01))
        self.fitted_at = now

    def expire(self, watermark: float, sink: Sink) -> None:
        s = self.settings
        closed = sorted(
            (key for key, _ in self.windows.items() if expired(key[1], self.window, watermark, s.lateness)),
            key=lambda k: (k[1], k[0]),
        )
        if not closed:
            return
        accs = [self.windows.pop(k) for k in closed]
        # The stream's time of this pass (the end of a stream closes at +inf: use the last window).
        now = watermark if math.isfinite(watermark) else closed[-1][1] + self.window
        every = [(k, a) for k, a in zip(closed, accs, strict=True) if a is not None]
        learning_end = (self.first_ts or 0.0) + s.learning_seconds
        if self.model is None:
            # Every actor-window of the baseline trains the model, quiet ones included.
            for k, a in every:
                if k[1] + self.window <= learning_end:
                    self._learn(k, a.row())
            if now >= learning_end and len(self.training) >= s.anomaly_min_train:
                self._fit(now)
            if self.model is None:
                return
        # Only windows after the baseline with enough requests to judge are scored.
        rows = [(k, a) for k, a in every if a.requests >= s.anomaly_min_requests and k[1] + self.window > learning_end]
        quiet = [(k, a) for k, a in every if a.requests < s.anomaly_min_requests and k[1] + self.window > learning_end]
        for k, a in quiet:
            self._learn(k, a.row())
        if not rows:
            return
        import numpy as np
        import pandas as pd

        frame = pd.DataFrame([a.row() for _k, a in rows], columns=list(FEATURES))
        scores = self.model.score_samples(frame.to_numpy(dtype=float))
        deviations = (frame.to_numpy(dtype=float) - self.median) / self.scale
        for (k, acc), score, dev, values in zip(rows, scores, deviations, frame.to_numpy(dtype=float), strict=True):
            top = int(np.argmax(np.abs(dev)))
            own = self.history.peek(k[0])
            if own is not None and own[0] >= 2:
                # Judged against its own past too: a batch job that always runs hot is not news.
                own_dev = (values - np.asarray(own[1:])) / self.scale
                unusual_for_actor = float(np.max(own_dev)) >= s.anomaly_min_feature_z
            else:
                unusual_for_actor = True
            if score < self.threshold and abs(dev[top]) >= s.anomaly_min_feature_z and unusual_for_actor:
                order = np.argsort(-np.abs(dev))[:3]
                sink(Hit(self.kind, None, self.severity, self.title, ActorRef(acc.ip, acc.identity, acc.key), acc.host,
                         None, "*", k[1], self.window, k[1] + self.window, {
                             "score": round(float(score), 4),
                             "threshold": round(self.threshold, 4),
                             "top_features": [
                                 {"feature": FEATURES[i], "value": round(float(values[i]), 3),
                                  "baseline": round(float(self.median[i]), 3), "deviation": round(float(dev[i]), 1)}
                                 for i in order
                             ],
                         }))
            else:
                self.training.add(self.hash(f"{k[0]}\x00{k[1]}"), [float(v) for v in values])
                self._remember(k[0], [float(v) for v in values])
        if self.fitted_at is not None and now >= self.fitted_at + s.anomaly_retrain_seconds:
            self._fit(now)

    def model_bytes(self) -> bytes:
        """The model as an ``.npz``: the rows it was fitted on, seed and fit time (refitted on load)."""
        import numpy as np

        buffer = io.BytesIO()
        np.savez(buffer, rows=np.asarray(self.fit_rows, dtype=float), seed=self.settings.anomaly_seed, fitted_at=self.fitted_at or math.nan)
        return buffer.getvalue()

    def to_state(self) -> Any:
        return {
            "windows": self.windows.to_state(lambda a: a.to_state(), list),
            "known": self.known.to_state(lambda c: c.to_state()),
            "training": self.training.to_state(),
            "history": self.history.to_state(lambda v: v),
            "first_ts": self.first_ts,
            "fitted_at": self.fitted_at,
            "fit_rows": self.fit_rows,
        }

    def load_state(self, data: Any) -> None:
        s = self.settings
        self.windows = LruTable.from_state(data["windows"], s.max_window_keys, _Acc.from_state, lambda k: (k[0], k[1]))
        self.known = LruTable.from_state(
            data["known"], s.max_identities, lambda d: CappedSet.from_state(d, KNOWN_ENDPOINTS), probation=s.probation_keys
        )
        self.training = BottomK.from_state(data["training"], s.anomaly_max_train)
        self.history = LruTable.from_state(data["history"], s.max_identities, lambda v: [float(x) for x in v])
        self.first_ts = data["first_ts"]
        self.fitted_at = data["fitted_at"]
        self.model = None
        if self.fitted_at is not None:
            self._fit(self.fitted_at, [[float(v) for v in r] for r in data["fit_rows"]])
