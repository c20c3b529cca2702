"""PII compliance report (GET /api/v1/reports/pii) on an inventory built by the real analyzer:
JSON totals against the database, CSV rows and quoting, the HTML page, roles and masking."""

from __future__ import annotations

import csv
import io
import re
from collections import Counter
from datetime import UTC, datetime
from typing import Any

import pytest
from sqlalchemy import Engine, insert, select

from analyzer.db.models import Endpoint, PiiFinding, Service
from analyzer.inventory.samples import mask_fully
from tests.inventory_api.conftest import SAMPLE_PCAPS, TestClient, analyze, auth

URL = "/api/v1/reports/pii"


@pytest.fixture(scope="module")
def findings(pg_url: str, engine: Engine) -> list[dict[str, Any]]:
    analyze(pg_url, *SAMPLE_PCAPS)
    return _db_findings(engine)


def _db_findings(engine: Engine) -> list[dict[str, Any]]:
    with engine.connect() as conn:
        rows = conn.execute(
            select(PiiFinding.__table__, Endpoint.method, Endpoint.path_template, Service.host)
            .join(Endpoint, Endpoint.id == PiiFinding.endpoint_id)
            .join(Service, Service.id == Endpoint.service_id)
        ).mappings()
        return [dict(row) for row in rows]


def _defused(value: str) -> str:
    """What a CSV cell holds: a leading apostrophe where a spreadsheet would see a formula."""
    return "'" + value if value.startswith(("=", "+", "-", "@", "\t", "\r")) else value


def _key(host: str, path: str, method: str, location: str, typ: str, field: str) -> tuple[str, ...]:
    return (host, path, method, location, typ, field)


def test_sample_captures_carry_pii(findings: list[dict[str, Any]]) -> None:
    assert len(findings) >= 5
    assert len({f["type"] for f in findings}) >= 2 and len({f["location"] for f in findings}) >= 2


def test_json_totals_match_the_database(
    client: TestClient, keys: dict[str, str], findings: list[dict[str, Any]]
) -> None:
    response = client.get(URL, headers=auth(keys["analyst"]))
    assert response.status_code == 200
    body = response.json()
    s = body["summary"]
    assert s["findings"] == len(findings)
    assert s["occurrences"] == sum(f["count"] for f in findings)
    assert s["endpoints"] == len({f["endpoint_id"] for f in findings})
    assert s["services"] == len({f["host"] for f in findings})
    assert datetime.fromisoformat(body["generated_at"]).tzinfo is not None

    per_type = Counter()
    for f in findings:
        per_type[f["type"]] += f["count"]
    assert {t["type"]: t["occurrences"] for t in body["by_type"]} == dict(per_type)
    occurrences = [t["occurrences"] for t in body["by_type"]]
    assert occurrences == sorted(occurrences, reverse=True)
    per_location = Counter()
    for f in findings:
        per_location[f["location"]] += f["count"]
    assert {t["location"]: t["occurrences"] for t in body["by_location"]} == dict(per_location)
    assert sum(sv["occurrences"] for sv in body["by_service"]) == s["occurrences"]
    assert {sv["host"] for sv in body["by_service"]} == {f["host"] for f in findings}
    assert len(body["by_endpoint"]) == s["endpoints"]
    assert sum(e["findings"] for e in body["by_endpoint"]) == len(findings)
    # Analysts see samples as the detector masked them.
    db = {
        _key(f["host"], f["path_template"], f["method"], f["location"], f["type"], f["field"]): f
        for f in findings
    }
    for item in body["findings"]:
        row = db[
            _key(item["service"], item["path"], item["method"], item["location"], item["type"], item["field"])
        ]
        assert item["count"] == row["count"] and item["masked_sample"] == row["sample"]


def test_viewers_get_shape_only_samples(
    client: TestClient, keys: dict[str, str], findings: list[dict[str, Any]]
) -> None:
    samples = {f["sample"] for f in findings if f["sample"]}
    assert any(re.search(r"[A-Za-z0-9]", s) for s in samples)  # something to mask
    body = client.get(URL, params={"format": "json"}, headers=auth(keys["viewer"])).json()
    got = {i["masked_sample"] for i in body["findings"] if i["masked_sample"]}
    assert got == {mask_fully(s) for s in samples}
    assert not any(re.search(r"[A-Za-z0-9]", s) for s in got)
    text = client.get(URL, params={"format": "csv"}, headers=auth(keys["viewer"])).text
    rows = list(csv.DictReader(io.StringIO(text)))
    assert {r["masked_sample"] for r in rows if r["masked_sample"]} == {_defused(s) for s in got}
    html = client.get(URL, params={"format": "html"}, headers=auth(keys["viewer"])).text
    for sample in samples:
        if re.search(r"[A-Za-z0-9]{3}", sample):
            assert sample not in html
    assert "fully masked" in html


def test_access(client: TestClient, keys: dict[str, str], findings: list[dict[str, Any]]) -> None:
    for fmt in ("json", "csv", "html"):
        assert client.get(URL, params={"format": fmt}).status_code == 401
        assert client.get(URL, params={"format": fmt}, headers=auth("apc_nope")).status_code == 401
        assert client.get(URL, params={"format": fmt}, headers=auth(keys["sensor"])).status_code == 403
        for role in ("admin", "analyst", "viewer"):
            assert client.get(URL, params={"format": fmt}, headers=auth(keys[role])).status_code == 200
    assert client.get(URL, params={"format": "pdf"}, headers=auth(keys["admin"])).status_code == 422


def test_csv_one_row_per_finding(
    client: TestClient, keys: dict[str, str], findings: list[dict[str, Any]]
) -> None:
    response = client.get(URL, params={"format": "csv"}, headers=auth(keys["analyst"]))
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/csv")
    assert re.fullmatch(
        r'attachment; filename="apicensus-pii-report-\d{8}-\d{6}\.csv"',
        response.headers["content-disposition"],
    )
    rows = list(csv.reader(io.StringIO(response.text)))
    assert rows[0] == ["service", "endpoint", "method", "location", "type", "field", "count", "masked_sample"]
    got = {tuple(r[:6]): (int(r[6]), r[7]) for r in rows[1:]}
    assert len(rows) - 1 == len(got) == len(findings)
    for f in findings:
        k = _key(f["host"], f["path_template"], f["method"], f["location"], f["type"], f["field"])
        assert got[k] == (f["count"], _defused(f["sample"] or ""))


def test_html_is_one_self_contained_page(
    client: TestClient, keys: dict[str, str], findings: list[dict[str, Any]]
) -> None:
    response = client.get(URL, params={"format": "html"}, headers=auth(keys["analyst"]))
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/html")
    assert "default-src 'none'" in response.headers["content-security-policy"]
    html = response.text
    assert html.startswith("<!DOCTYPE html>") and "<title>PII exposure report" in html
    assert "@media print" in html and "<style>" in html
    # Nothing external: no script, no stylesheet link, no URL other than the SVG namespace.
    assert "<script" not in html.lower() and "<link" not in html.lower() and "<img" not in html.lower()
    assert set(re.findall(r"https?://[^\s\"'<>)]+", html)) <= {"http://www.w3.org/2000/svg"}
    assert "url(" not in html and "@import" not in html
    # Two charts: one bar per type, one per location.
    svgs = re.findall(r"<svg\b.*?</svg>", html, flags=re.S)
    assert len(svgs) == 2
    assert len(re.findall(r'<rect class="bar"', svgs[0])) == len({f["type"] for f in findings})
    assert len(re.findall(r'<rect class="bar"', svgs[1])) == len({f["location"] for f in findings})
    # A findings table per service, one row per finding.
    assert html.count('<table class="service-findings">') == len({f["host"] for f in findings})
    tables = re.findall(r'<table class="service-findings">.*?</table>', html, flags=re.S)
    assert sum(t.count("<tr>") - 1 for t in tables) == len(findings)
    for f in findings:
        assert f["type"] in html
    # The most exposed endpoints (at most 25), then the summary by service.
    top = re.search(r'<table class="by-endpoint">.*?</table>', html, flags=re.S)
    assert top is not None
    assert top.group(0).count("<tr>") - 1 == min(25, len({f["endpoint_id"] for f in findings}))
    by_service = re.search(r'<table class="by-service">.*?</table>', html, flags=re.S)
    assert by_service is not None and by_service.group(0).count("<tr>") - 1 == len(
        {f["host"] for f in findings}
    )


def test_traffic_values_are_escaped_and_defused(
    client: TestClient, keys: dict[str, str], findings: list[dict[str, Any]], engine: Engine
) -> None:
    """Hosts, paths and fields come off the wire: HTML-escaped, CSV-quoted, no spreadsheet formulas."""
    now = datetime.now(UTC)
    with engine.begin() as conn:
        sid = conn.execute(
            insert(Service)
            .values(host='evil.example "x", y', hits=1, first_seen=now, last_seen=now)
            .returning(Service.id)
        ).scalar_one()
        eid = conn.execute(
            insert(Endpoint)
            .values(
                service_id=sid,
                method="POST",
                path_template="/<script>alert(1)</script>/a,b",
                hits=1,
                first_seen=now,
                last_seen=now,
            )
            .returning(Endpoint.id)
        ).scalar_one()
        conn.execute(
            insert(PiiFinding).values(
                endpoint_id=eid,
                type="EMAIL_ADDRESS",
                location="request",
                field='=HYPERLINK("http://x")',
                count=3,
                sample="a***@b\nc.com",
                first_seen=now,
                last_seen=now,
            )
        )
    html = client.get(URL, params={"format": "html"}, headers=auth(keys["admin"])).text
    assert "<script>" not in html and "&lt;script&gt;alert(1)&lt;/script&gt;" in html
    assert "evil.example &quot;x&quot;, y" in html
    text = client.get(URL, params={"format": "csv"}, headers=auth(keys["admin"])).text
    rows = [r for r in csv.reader(io.StringIO(text)) if r[0].startswith("evil")]
    assert rows == [
        [
            'evil.example "x", y',
            "/<script>alert(1)</script>/a,b",
            "POST",
            "request",
            "EMAIL_ADDRESS",
            '\'=HYPERLINK("http://x")',
            "3",
            "a***@b\nc.com",
        ]
    ]
    assert len(list(csv.reader(io.StringIO(text)))) == len(_db_findings(engine)) + 1
