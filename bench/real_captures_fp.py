"""Threat detection on the real captures of the shared corpus: false alarms vs. expected events.

Each capture in ``../shared/corpus/pcaps`` is analysed alone, through the real ``apicensus analyze``
(sensor in-process, PII on, detection on) into a fresh SQLite database, and its events are read
back with ``apicensus export --format events``. ``bench/attacks/real_captures.txt`` lists the
captures that contain attacks, each with the event types expected and the reason; every other
capture is benign traffic (public sites, apps, protocol test traces), where any attack event is a
false alarm. Posture events (cleartext credentials, version disclosure) describe the traffic and
are not alarms about an attacker: they are counted apart.

    .venv/bin/python -m bench.real_captures_fp                 # every capture
    .venv/bin/python -m bench.real_captures_fp --only zeek_dvwa --show

Prints per capture its events by ``type/subtype``, then the totals "events on benign captures" and
"expected events found". Exit status 0 when no benign capture has an attack event and every
expected event was found, 1 when not, 2 when the corpus is missing.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import os
import shutil
import sys
import tempfile
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

LABELS = REPO / "bench" / "attacks" / "real_captures.txt"
# Events that describe the traffic's posture, not an attacker: allowed on benign captures.
NOT_ALARMS = frozenset({"posture"})
CAPTURE_SUFFIXES = (".pcap", ".pcapng", ".cap")
PII_WORKERS_ENV = "APICENSUS_PII_WORKERS"


def corpus_pcaps(repo: Path = REPO) -> Path | None:
    """``../shared/corpus/pcaps`` beside the clone (CI) or beside the folder of worktrees."""
    for shared in (repo.parent / "shared", repo.parent.parent / "shared"):
        pcaps = shared / "corpus" / "pcaps"
        if pcaps.is_dir():
            return pcaps
    return None


@dataclass(frozen=True, slots=True)
class Expectation:
    capture: str
    kinds: frozenset[str]  # required: "type" or "type/subtype"
    tolerated: frozenset[str]  # may be reported too
    reason: str

    def allows(self, event: dict[str, Any]) -> bool:
        return bool({kind(event), str(event["type"])} & (self.kinds | self.tolerated))


def load_labels(path: Path = LABELS) -> dict[str, Expectation]:
    """``capture: kinds [| tolerated kinds] # reason`` per line (``#`` lines are comments)."""
    labels: dict[str, Expectation] = {}
    for n, raw in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        head, _, reason = line.partition("#")
        capture, sep, kinds = head.partition(":")
        if not sep or not reason.strip():
            raise ValueError(f"{path.name}:{n}: expected 'capture: kinds # reason', got {raw!r}")
        required, _, tolerated = kinds.partition("|")
        labels[capture.strip()] = Expectation(
            capture.strip(), frozenset(required.replace(",", " ").split()), frozenset(tolerated.replace(",", " ").split()), reason.strip()
        )
    return labels


def _cli(*argv: str) -> tuple[int, str]:
    from apicensus_cli import main

    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = main(list(argv))
    return code, out.getvalue() + err.getvalue()


def _empty_database(workdir: Path) -> Path:
    """A migrated, empty SQLite database, made once per work folder (copied for each capture:
    migrating costs more than analysing most captures)."""
    template = workdir / "empty-inventory.db"
    if not template.exists():
        from analyzer.db.session import make_engine, run_migrations

        engine = make_engine(f"sqlite:///{template}")
        try:
            run_migrations(engine)
        finally:
            engine.dispose()
    return template


def capture_events(pcap: Path, workdir: Path) -> list[dict[str, Any]]:
    """The events ``apicensus analyze`` finds in one capture alone (fresh SQLite database; PII
    detection in-process: a helper process per capture costs seconds of start-up)."""
    db = workdir / f"{pcap.stem}.db"
    shutil.copyfile(_empty_database(workdir), db)
    url = f"sqlite:///{db}"
    workers = os.environ.get(PII_WORKERS_ENV)
    os.environ[PII_WORKERS_ENV] = "0"
    try:
        code, out = _cli("analyze", str(pcap), "--db", url, "--no-progress")
    finally:
        if workers is None:
            del os.environ[PII_WORKERS_ENV]
        else:
            os.environ[PII_WORKERS_ENV] = workers
    # 1: a damaged or cut-short capture, whose exchanges up to the damage were kept.
    if code not in (0, 1) or (code == 1 and "damaged" not in out):
        raise RuntimeError(f"analyze {pcap.name} exited {code}: {out[-500:]}")
    code, out = _cli("export", "--format", "events", "--db", url)
    if code != 0:
        raise RuntimeError(f"export of {pcap.name} exited {code}")
    db.unlink(missing_ok=True)
    return [json.loads(line) for line in out.splitlines() if line.strip()]


def kind(event: dict[str, Any]) -> str:
    return f"{event['type']}/{event['subtype']}" if event.get("subtype") else str(event["type"])


def is_alarm(event: dict[str, Any]) -> bool:
    return event["type"] not in NOT_ALARMS


def expected_found(expectation: Expectation, events: Iterable[dict[str, Any]]) -> dict[str, bool]:
    """Each expected kind: was an event of it (``type`` or ``type/subtype``) reported?"""
    seen = {kind(e) for e in events} | {str(e["type"]) for e in events}
    return {k: k in seen for k in sorted(expectation.kinds)}


def captures(pcaps: Path, only: Sequence[str] = ()) -> list[Path]:
    files = sorted(p for p in pcaps.iterdir() if p.name.endswith(CAPTURE_SUFFIXES))
    return [p for p in files if not only or any(o in p.name for o in only)]


def main(argv: Sequence[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--pcaps", type=Path, help="folder of captures (default ../shared/corpus/pcaps)")
    ap.add_argument("--only", nargs="*", default=(), help="captures whose name contains one of these")
    ap.add_argument("--show", action="store_true", help="print each alarm's host, path and evidence")
    ap.add_argument("--jsonl", type=Path, help="write every event (with its capture) to this file")
    args = ap.parse_args(argv)
    pcaps = args.pcaps or corpus_pcaps()
    if pcaps is None or not pcaps.is_dir():
        print("no corpus: ../shared/corpus/pcaps not found")
        return 2
    labels = load_labels()
    unknown = set(labels) - {p.name for p in captures(pcaps)}
    if unknown:
        print(f"labels name captures not in {pcaps}: {sorted(unknown)}")
        return 2
    benign_alarms = unexpected = expected_total = expected_hit = posture = 0
    missing: list[str] = []
    dump = args.jsonl.open("w", encoding="utf-8") if args.jsonl else None
    shm = Path("/dev/shm")  # a database per capture: in memory-backed storage when there is one
    with tempfile.TemporaryDirectory(prefix="apicensus-realfp-", dir=shm if shm.is_dir() else None) as tmp:
        for pcap in captures(pcaps, args.only):
            events = capture_events(pcap, Path(tmp))
            if dump is not None:
                for e in events:
                    dump.write(json.dumps({"capture": pcap.name, **e}) + "\n")
            alarms = [e for e in events if is_alarm(e)]
            posture += len(events) - len(alarms)
            expectation = labels.get(pcap.name)
            by_kind = Counter(kind(e) for e in alarms)
            if expectation is None:
                benign_alarms += len(alarms)
                verdict = "benign" + (f": {len(alarms)} FALSE ALARMS" if alarms else "")
            else:
                found = expected_found(expectation, alarms)
                expected_total += len(found)
                expected_hit += sum(found.values())
                missing += [f"{pcap.name}: {k}" for k, ok in found.items() if not ok]
                wrong = [e for e in alarms if not expectation.allows(e)]
                unexpected += len(wrong)
                verdict = "attack: expected " + ", ".join(f"{k}{'' if ok else ' MISSING'}" for k, ok in found.items())
                verdict += f"; {len(wrong)} FALSE ALARMS" if wrong else ""
            if alarms or expectation is not None:
                detail = ", ".join(f"{k} x{n}" for k, n in sorted(by_kind.items()))
                print(f"{pcap.name:<44} {verdict}  [{detail}]")
                if args.show:
                    for e in alarms:
                        print(f"    {kind(e):<32} {e['host']} {e['method']} {e['path_template'][:60]} {json.dumps(e['evidence'])[:160]}")
    if dump is not None:
        dump.close()
    print(f"events on benign captures: {benign_alarms}")
    print(f"events of unexpected kinds on attack captures: {unexpected}")
    print(f"expected events found: {expected_hit}/{expected_total}" + (f" (missing: {'; '.join(missing)})" if missing else ""))
    print(f"posture events (not alarms): {posture}")
    return 0 if benign_alarms == unexpected == 0 and expected_hit == expected_total else 1


if __name__ == "__main__":
    sys.exit(main())
