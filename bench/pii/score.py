"""Precision / recall / F1 bookkeeping for the PII benchmark."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Hashable, Iterable
from dataclasses import dataclass


@dataclass
class Counts:
    tp: int = 0
    fp: int = 0
    fn: int = 0

    @property
    def precision(self) -> float:
        return self.tp / (self.tp + self.fp) if self.tp + self.fp else 1.0

    @property
    def recall(self) -> float:
        return self.tp / (self.tp + self.fn) if self.tp + self.fn else 1.0

    @property
    def f1(self) -> float:
        p, r = self.precision, self.recall
        return 2 * p * r / (p + r) if p + r else 0.0

    def add(self, gold: set[Hashable], pred: set[Hashable]) -> None:
        self.tp += len(gold & pred)
        self.fp += len(pred - gold)
        self.fn += len(gold - pred)


class Scoreboard:
    """Overall and per-type counts; items are tuples whose last element is the PII type."""

    def __init__(self) -> None:
        self.overall = Counts()
        self.per_type: dict[str, Counts] = defaultdict(Counts)
        self.errors: list[tuple[str, Hashable]] = []  # ("FP"|"FN", item) for diagnostics

    def add(self, gold: Iterable[tuple[str, ...]], pred: Iterable[tuple[str, ...]]) -> None:
        gold_set, pred_set = set(gold), set(pred)
        self.overall.add(gold_set, pred_set)  # type: ignore[arg-type]
        for item in gold_set | pred_set:
            counts = self.per_type[item[-1]]
            if item in gold_set and item in pred_set:
                counts.tp += 1
            elif item in pred_set:
                counts.fp += 1
                self.errors.append(("FP", item))
            else:
                counts.fn += 1
                self.errors.append(("FN", item))

    def merged(self, other: Scoreboard) -> Scoreboard:
        """Both boards' counts added up (the items of two sets never collide)."""
        out = Scoreboard()
        for board in (self, other):
            out.overall.tp += board.overall.tp
            out.overall.fp += board.overall.fp
            out.overall.fn += board.overall.fn
            for pii_type, c in board.per_type.items():
                mine = out.per_type[pii_type]
                mine.tp, mine.fp, mine.fn = mine.tp + c.tp, mine.fp + c.fp, mine.fn + c.fn
            out.errors.extend(board.errors)
        return out

    def table(self, title: str) -> str:
        lines = [title, f"  {'type':<16} {'P':>6} {'R':>6} {'F1':>6} {'tp':>6} {'fp':>5} {'fn':>5}"]
        for pii_type in sorted(self.per_type):
            c = self.per_type[pii_type]
            lines.append(
                f"  {pii_type:<16} {c.precision:6.3f} {c.recall:6.3f} {c.f1:6.3f} {c.tp:6d} {c.fp:5d} {c.fn:5d}"
            )
        c = self.overall
        lines.append(
            f"  {'ALL (micro)':<16} {c.precision:6.3f} {c.recall:6.3f} {c.f1:6.3f} {c.tp:6d} {c.fp:5d} {c.fn:5d}"
        )
        return "\n".join(lines)
