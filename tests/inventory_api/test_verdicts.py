"""Spec verdicts, traffic first: analyse sample_pcaps, then import the specs (HTTP and CLI)."""

from __future__ import annotations

import pytest
from sqlalchemy import Engine

from tests.inventory_api.conftest import SAMPLE_PCAPS, TestClient, analyze, auth, cli
from tests.inventory_api.verdict_checks import SPECS, check_api, check_export, export


@pytest.fixture(scope="module")
def inventory(pg_url: str, engine: Engine, client: TestClient, keys: dict[str, str]) -> None:
    analyze(pg_url, *SAMPLE_PCAPS)
    # Before any spec: everything observed is shadow, nothing is documented or orphan.
    endpoints = export(pg_url)
    assert endpoints and all(e["shadow"] and not e["documented"] and not e["orphan"] for e in endpoints)
    for spec in SPECS[:2]:  # shop-1, then shop-2 through HTTP
        response = client.post(
            "/api/v1/specs",
            content=spec.read_bytes(),
            params={"name": spec.name},
            headers=auth(keys["analyst"]),
        )
        assert response.status_code == 201, response.text
    code, _ = cli("spec", "import", *map(str, SPECS[2:]), "--db", pg_url)
    assert code == 0


def test_export_verdicts(pg_url: str, inventory: None) -> None:
    check_export(pg_url)


def test_catalog_filters_and_detail(client: TestClient, keys: dict[str, str], inventory: None) -> None:
    check_api(client, keys["viewer"])


def test_reanalysis_keeps_verdicts(pg_url: str, inventory: None) -> None:
    # Nothing new: the verdicts are recomputed and stay the same. The end-of-analyze consolidation
    # folds every host again with the imported specs as guidance, so the inventory becomes the one
    # the specs imported first give (/userinfo is a value of the documented /{page}): the order
    # of spec import and traffic does not decide the templates once both are in.
    analyze(pg_url, *SAMPLE_PCAPS)
    check_export(pg_url, spec_first=True)


def test_import_counts_follow_the_matching(client: TestClient, keys: dict[str, str], inventory: None) -> None:
    specs = client.get("/api/v1/specs", headers=auth(keys["viewer"])).json()
    shop2 = next(s for s in specs if s["source"] == "shop-2.yaml")
    # orders GET/POST, {id} GET/PATCH observed; DELETE deprecated but seen; me and /v2 orphan.
    assert shop2["verdicts"] == {"observed": 4, "zombie": 1, "orphan": 2}
