"""`apicensus report pii` as a compliance document, from a database built by the real analyzer."""

from __future__ import annotations

import contextlib
import csv
import io
import json
from pathlib import Path

import pytest
from sqlalchemy import update

from analyzer.alerts.model import REMEDIATION
from analyzer.db.models import Service
from analyzer.db.session import make_engine, session_scope
from tests.conftest import make_exchange

DAY = 86400.0
T0 = 1_700_000_000.0
EMAIL = "jane.doe@example.org"
KEY = "sk_live_4eC39HqLyjWDarjtT1zdp7dc"


def cli(*argv: str) -> tuple[int, str]:
    from apicensus_cli import main

    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        code = main(list(argv))
    return code, out.getvalue()


@pytest.fixture(scope="module")
def db(tmp_path_factory: pytest.TempPathFactory) -> str:
    tmp = tmp_path_factory.mktemp("report")
    url = f"sqlite:///{tmp / 'inv.db'}"
    person = json.dumps({"email": EMAIL, "name": "Jane Doe", "phone": "+1 415 555 2671"})
    auth = [("Authorization", "Bearer eyJhbGciOi.payload.sig")]
    records = [make_exchange(host="crm.example", target=f"/v1/customers/{i}", response_body=person, ts=T0 + i * DAY)
               for i in range(4)]  # unauthenticated, over four days
    records += [make_exchange(host="hr.example", target="/people/me", response_body=person, request_headers=auth,
                              ts=T0 + 2 * DAY + i) for i in range(2)]
    records += [make_exchange(host="pay.example", target=f"/=cmd?api_key={KEY}", response_body='{"ok":1}',
                              request_headers=auth, ts=T0 + 3 * DAY)]
    path = tmp / "traffic.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in records))
    code, _ = cli("analyze", str(path), "--db", url, "--no-progress")
    assert code == 0
    engine = make_engine(url)
    with session_scope(engine) as session:
        session.execute(update(Service).where(Service.host == "crm.example")
                        .values(owner="team-crm", application="CRM", business_unit="Sales"))
    engine.dispose()
    return url


def report(db: str, tmp: Path, fmt: str, *extra: str) -> str:
    out = tmp / f"report.{fmt}"
    code, said = cli("report", "pii", "--db", db, "--format", fmt, "--output", str(out), *extra)
    assert code == 0 and "wrote" in said
    return out.read_text()


def test_json_document_sections(db: str, tmp_path: Path) -> None:
    doc = json.loads(report(db, tmp_path, "json"))
    es = doc["executive_summary"]
    assert es["unauthenticated_pii_endpoints"] == 1
    (exposed,) = doc["unauthenticated_exposure"]
    assert exposed["host"] == "crm.example" and "EMAIL_ADDRESS" in exposed["personal_types"]
    assert exposed["owner"] == "team-crm" and exposed["clients"] == 1
    # Credentials apart from personal data.
    assert "EMAIL_ADDRESS" in es["personal_data_types"]
    assert es["credential_types"] and not set(es["credential_types"]) & set(es["personal_data_types"])
    assert {t["type"] for t in doc["credentials"]} == set(es["credential_types"])
    # Ownership: inherited from the service; the rest unassigned.
    owners = {b["owner"]: b for b in doc["by_owner"]}
    assert owners["team-crm"]["unauthenticated_endpoints"] == 1 and "(unassigned)" in owners
    assert {b["business_unit"] for b in doc["by_business_unit"]} >= {"Sales"}
    assert {b["application"] for b in doc["by_application"]} >= {"CRM"}
    # Observation period and trends over its days.
    assert doc["observation_period"]["start"].startswith("2023-11-14")
    assert doc["observation_period"]["days"] == pytest.approx(3, abs=0.01)
    assert len(doc["trends"]) == 4 and sum(t["requests_to_pii_endpoints"] for t in doc["trends"]) >= 6
    # Findings with remediation advice per kind.
    kinds = {k["kind"]: k for k in doc["findings_by_kind"]}
    assert kinds["pii_unauthenticated"]["remediation"] == REMEDIATION["pii_unauthenticated"]
    assert "credentials_in_url" in kinds
    text = json.dumps(doc)
    assert EMAIL not in text and KEY not in text


def test_filters(db: str, tmp_path: Path) -> None:
    only = json.loads(report(db, tmp_path, "json", "--service", "hr.example"))
    assert {e["host"] for e in only["personal_data"]["by_service"]} == {"hr.example"}
    assert only["executive_summary"]["unauthenticated_pii_endpoints"] == 0
    assert only["filters"]["service"] == "hr.example"
    owned = json.loads(report(db, tmp_path, "json", "--owner", "team-crm"))
    assert {e["host"] for e in owned["personal_data"]["by_service"]} == {"crm.example"}
    assert {k["kind"] for k in owned["findings_by_kind"]} <= {"pii_unauthenticated", "shadow_pii"}
    late = json.loads(report(db, tmp_path, "json", "--since", "2023-11-17"))
    assert {e["host"] for e in late["personal_data"]["by_service"]} == {"crm.example"}  # its day-3 exchange
    code, _ = cli("report", "pii", "--db", db, "--since", "yesterday", "--output", str(tmp_path / "x"))
    assert code == 2


def test_html_and_csv(db: str, tmp_path: Path) -> None:
    html = report(db, tmp_path, "html")
    order = [html.index(s) for s in ("Executive summary", "without authentication", "Credentials (counted apart",
                                     "By owner", "By business unit", "Trends over the period",
                                     "Findings and remediation", "Exposure in detail")]
    assert order == sorted(order)
    assert "@media print" in html and "<script" not in html and EMAIL not in html and KEY not in html
    assert REMEDIATION["pii_unauthenticated"] in html
    rows = list(csv.DictReader(io.StringIO(report(db, tmp_path, "csv"))))
    crm = [r for r in rows if r["service"] == "crm.example"]
    assert crm and all(r["unauthenticated"] == "yes" and r["owner"] == "team-crm" for r in crm)
    assert {r["category"] for r in rows} == {"personal", "credential"}
    assert all(not r["endpoint"].startswith("=") for r in rows)  # formula cells defused
