"""PII findings on the real captures of the shared corpus, one line per distinct finding, for
comparing two versions of the detector by eye (a rule change must not add false PII there).

    .venv/bin/python -m bench.pii_captures > new.txt   # then diff against the same run on main

Each line: capture, type, location, field, masked sample, exchanges hit. The counts per type
close the output. Exit status 2 when the corpus is missing.
"""

from __future__ import annotations

import sys
from collections import Counter
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

from analyzer.pii import default_detector  # noqa: E402
from bench.real_captures_fp import captures, corpus_pcaps  # noqa: E402
from sensor.engine import iter_exchanges  # noqa: E402
from sensor.pcapio import CaptureError  # noqa: E402

BATCH = 200  # the pipeline's chunk: population rules judge a field across it


def capture_findings(pcap: Path) -> Counter[tuple[str, str, str, str]]:
    records = []
    try:
        for exchange in iter_exchanges(pcap):
            records.append(exchange.to_dict())
    except CaptureError:
        pass  # a damaged capture: what came before the damage is scored
    out: Counter[tuple[str, str, str, str]] = Counter()
    detector = default_detector()
    for i in range(0, len(records), BATCH):
        for findings in detector.detect_batch(records[i : i + BATCH]):
            for f in findings:
                out[(f.type, f.location, f.field, f.sample)] += 1
    return out


def main() -> int:
    pcaps = corpus_pcaps(REPO)
    if pcaps is None:
        print("the shared corpus (../shared/corpus/pcaps) is not here", file=sys.stderr)
        return 2
    totals: Counter[str] = Counter()
    for pcap in captures(pcaps):
        for (pii_type, location, field, sample), count in sorted(capture_findings(pcap).items()):
            print(f"{pcap.name}\t{pii_type}\t{location}\t{field}\t{sample}\t{count}")
            totals[pii_type] += 1
    for pii_type, count in sorted(totals.items()):
        print(f"# {pii_type}: {count} distinct findings")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
