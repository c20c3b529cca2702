"""Spec verdicts, specs first: import into an empty inventory, then analyse sample_pcaps."""

from __future__ import annotations

import pytest
from sqlalchemy import Engine, select

from analyzer.db.models import ApiSpec
from tests.inventory_api.conftest import SAMPLE_PCAPS, TestClient, analyze, cli
from tests.inventory_api.verdict_checks import SPECS, check_api, check_export, export


@pytest.fixture(scope="module")
def inventory(pg_url: str, engine: Engine) -> None:
    code, out = cli("spec", "import", str(SPECS[0]), "--db", pg_url)
    assert code == 0, out
    code, out = cli("spec", "import", *map(str, SPECS[1:]), "--db", pg_url)
    assert code == 0, out
    # Nothing observed yet: every operation of the latest specs is an orphan.
    assert sum(e["orphan"] for e in export(pg_url)) == 7 + 4 + 1
    analyze(pg_url, *SAMPLE_PCAPS)


def test_export_verdicts(pg_url: str, inventory: None) -> None:
    check_export(pg_url, spec_first=True)


def test_catalog_filters_and_detail(client: TestClient, keys: dict[str, str], inventory: None) -> None:
    check_api(client, keys["analyst"], spec_first=True)


def test_specs_linked_to_services_seen_later(engine: Engine, inventory: None) -> None:
    with engine.connect() as conn:
        assert all(sid is not None for sid in conn.scalars(select(ApiSpec.service_id)))
