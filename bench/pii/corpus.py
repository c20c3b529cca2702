"""Value-level evaluation on the shared PII corpus (../shared/corpus/pii, see its SOURCES.md).

Four views, because the datasets differ in what they label:

* ``fakename``: FakeNameGenerator identity records; each column becomes an API field with the name an
  API would give it (``GivenName`` -> ``first_name``), so this measures value + field-name detection.
  Also run with no field name to show what the value alone gives.
* ``presidio_synth``: free-text sentences with spans. Scored per sentence (is type T in it?) with
  no field name, and per span with the span's natural field name (``PERSON`` -> ``full_name``);
  non-PII spans (organisations, cities, dates, titles) are the look-alike negatives there.
* ``nannigalaxy``: sentences with entity strings; scored per sentence on the labels we map.
* ``templates``: presidio's sentence templates filled with this benchmark's generated values.

Sentence-level PERSON recall is expected to be low: there is no NER model (offline, no weights);
PERSON comes from field names, which free text does not have.
"""

from __future__ import annotations

import csv
import json
import random
import re
from pathlib import Path

from analyzer.pii import PiiDetector
from bench.pii import synth
from bench.pii.score import Scoreboard

CANONICAL = frozenset(
    {
        "EMAIL_ADDRESS",
        "PHONE_NUMBER",
        "CREDIT_CARD",
        "US_SSN",
        "IBAN_CODE",
        "PERSON",
        "LOCATION",
        "DATE_OF_BIRTH",
        "IP_ADDRESS",
        "CN_RESIDENT_ID",
        "CREDENTIAL",
    }
)

# FakeNameGenerator column -> (API field name, gold type or None). CCNumber is Excel-mangled
# (5.54563E+15) and NationalID is mostly empty / country-specific, so both are left out.
FAKENAME_COLUMNS: dict[str, tuple[str, str | None]] = {
    "Number": ("id", None),
    "Gender": ("gender", None),
    "Title": ("title", None),
    "GivenName": ("first_name", "PERSON"),
    "Surname": ("last_name", "PERSON"),
    "StreetAddress": ("address.street", "LOCATION"),
    "City": ("address.city", "LOCATION"),
    "ZipCode": ("address.zip", "LOCATION"),
    "CountryFull": ("nationality", None),
    "EmailAddress": ("email", "EMAIL_ADDRESS"),
    "Username": ("username", None),
    "Password": ("password", "CREDENTIAL"),
    "TelephoneNumber": ("phone", "PHONE_NUMBER"),
    "MothersMaiden": ("mothers_maiden_name", "PERSON"),
    "Birthday": ("birthday", "DATE_OF_BIRTH"),
    "Age": ("age", None),
    "CVV2": ("cvv2", None),
    "CCExpires": ("card_expires", None),
    "Occupation": ("occupation", None),
    "Company": ("company", None),
    "Domain": ("website", None),
}

SYNTH_MAP = {
    "PERSON": "PERSON",
    "STREET_ADDRESS": "LOCATION",
    "CREDIT_CARD": "CREDIT_CARD",
    "US_SSN": "US_SSN",
    "EMAIL_ADDRESS": "EMAIL_ADDRESS",
    "PHONE_NUMBER": "PHONE_NUMBER",
    "IBAN_CODE": "IBAN_CODE",
    "IP_ADDRESS": "IP_ADDRESS",
}
# Field names an API would use for a span of that type; non-PII types are the negatives.
SPAN_FIELDS = {
    "PERSON": "full_name",
    "STREET_ADDRESS": "street_address",
    "CREDIT_CARD": "card_number",
    "US_SSN": "ssn",
    "EMAIL_ADDRESS": "email",
    "PHONE_NUMBER": "phone",
    "IBAN_CODE": "iban",
    "IP_ADDRESS": "client_ip",
    "ORGANIZATION": "company",
    "GPE": "country",
    "DATE_TIME": "created_at",
    "TITLE": "job_title",
    "AGE": "age",
    "NRP": "nationality",
    "ZIP_CODE": "zip",
    "DOMAIN_NAME": "website",
}
NANNI_MAP = {
    "PERSON": "PERSON",
    "EMAIL": "EMAIL_ADDRESS",
    "PASSWORD": "CREDENTIAL",
    "SSN": "US_SSN",
    "PHONE": "PHONE_NUMBER",
    "IBAN": "IBAN_CODE",
    "CREDIT_CARD": "CREDIT_CARD",
}


def fakename(
    path: Path, detector: PiiDetector, *, use_fields: bool = True, limit: int | None = None
) -> Scoreboard:
    board = Scoreboard()
    with path.open(encoding="utf-8-sig", newline="") as fh:
        for i, row in enumerate(csv.DictReader(fh)):
            if limit is not None and i >= limit:
                break
            for column, (field, gold_type) in FAKENAME_COLUMNS.items():
                value = (row.get(column) or "").strip()
                if not value:
                    continue
                found = {
                    t for t, _ in detector.detect_value(value, field if use_fields else None)
                } & CANONICAL
                gold = {(str(i), column, gold_type)} if gold_type else set()
                board.add(gold, {(str(i), column, t) for t in found})
    return board


def presidio_synth(path: Path, detector: PiiDetector) -> tuple[Scoreboard, Scoreboard]:
    """(sentence-level with no field names, span-level with natural field names)."""
    sentences, spans = Scoreboard(), Scoreboard()
    targets = set(SYNTH_MAP.values())
    for i, item in enumerate(json.loads(path.read_text(encoding="utf-8"))):
        gold = {(str(i), SYNTH_MAP[s["entity_type"]]) for s in item["spans"] if s["entity_type"] in SYNTH_MAP}
        pred = {(str(i), t) for t, _ in detector.detect_value(item["full_text"]) if t in targets}
        sentences.add(gold, pred)
        for j, span in enumerate(item["spans"]):
            field = SPAN_FIELDS.get(span["entity_type"])
            if field is None:
                continue
            key = (str(i), str(j))
            gold_span = (
                {(*key, SYNTH_MAP[span["entity_type"]])} if span["entity_type"] in SYNTH_MAP else set()
            )
            found = {t for t, _ in detector.detect_value(span["entity_value"], field)} & CANONICAL
            spans.add(gold_span, {(*key, t) for t in found})
    return sentences, spans


def nannigalaxy(path: Path, detector: PiiDetector) -> Scoreboard:
    board = Scoreboard()
    targets = set(NANNI_MAP.values())
    for i, item in enumerate(json.loads(path.read_text(encoding="utf-8"))):
        gold = {(str(i), NANNI_MAP[e["label"]]) for e in item["NER"] if e["label"] in NANNI_MAP}
        pred = {(str(i), t) for t, _ in detector.detect_value(item["text"]) if t in targets}
        board.add(gold, pred)
    return board


def templates(path: Path, detector: PiiDetector, seed: int = 11) -> Scoreboard:
    rng = random.Random(seed)
    fillers = {
        "credit_card_number": (lambda: synth.card(rng), "CREDIT_CARD"),
        "iban": (lambda: synth.iban(rng), "IBAN_CODE"),
        "phone_number": (lambda: rng.choice([synth.intl_phone(rng), synth.cn_mobile(rng)]), "PHONE_NUMBER"),
        "email": (lambda: synth.email(rng), "EMAIL_ADDRESS"),
        "ip_address": (lambda: synth.ip(rng), "IP_ADDRESS"),
        "ssn": (lambda: synth.ssn(rng), "US_SSN"),
        "address": (lambda: f"{synth.street(rng)}, {rng.choice(synth.CITIES)}", "LOCATION"),
        "date_of_birth": (lambda: synth.dob(rng), "DATE_OF_BIRTH"),
    }
    plain = {
        "year": lambda: str(rng.randrange(1990, 2024)),
        "age": lambda: str(rng.randrange(18, 90)),
        "building_number": lambda: str(rng.randrange(1, 300)),
        "date_time": lambda: synth.recent_date(rng),
    }
    board = Scoreboard()
    targets = {t for _, t in fillers.values()}
    lines = [
        ln.strip() for ln in path.read_text(encoding="utf-8", errors="replace").splitlines() if ln.strip()
    ]
    for i, line in enumerate(lines):
        gold: set[tuple[str, str]] = set()

        def fill(match: re.Match[str], i: int = i, gold: set[tuple[str, str]] = gold) -> str:
            name = match.group(1)
            if name in fillers:
                make, pii_type = fillers[name]
                gold.add((str(i), pii_type))
                return make()
            if name in plain:
                return plain[name]()
            return name.replace("_", " ").title()  # names, cities, orgs: no NER, so not scored

        # The file writes line breaks inside a template as a literal backslash-n.
        text = re.sub(r"\{\{(\w+)\}\}", fill, line.replace("\\n", "\n"))
        pred = {(str(i), t) for t, _ in detector.detect_value(text) if t in targets}
        board.add(gold, pred)
    return board
