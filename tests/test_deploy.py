"""docker-compose.yml and the Dockerfile: valid for the installed docker-compose, and keeping the
deployment's promises (no Docker engine needed: `docker-compose config` only parses and validates).
"""

from __future__ import annotations

import os
import re
import shlex
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.stack import REPO_ROOT, cli_commands

COMPOSE_FILE = REPO_ROOT / "docker-compose.yml"
DOCKERFILE = REPO_ROOT / "Dockerfile"
SERVICES = ("postgres", "nats", "migrate", "inventory", "analyzer", "sensor")
# ${VAR} or ${VAR:-default}; $${VAR} is the container's own variable, escaped from compose.
VARIABLE = re.compile(r"(?<!\$)\$\{([A-Za-z_][A-Za-z0-9_]*)(:?-[^}]*)?\}")

needs_compose = pytest.mark.skipif(
    shutil.which("docker-compose") is None,
    reason="docker-compose not installed (Debian package docker-compose; .ci/run installs it)",
)


def compose_variables() -> set[str]:
    return {m.group(1) for m in VARIABLE.finditer(COMPOSE_FILE.read_text())}


def compose_config(**overrides: str) -> dict[str, Any]:
    """The file as docker-compose resolves it: defaults interpolated, merge keys applied."""
    # Only our overrides count: a developer's exported SENSOR_INTERFACE must not change the result.
    env = {k: v for k, v in os.environ.items() if k not in compose_variables()}
    result = subprocess.run(
        ["docker-compose", "-f", str(COMPOSE_FILE), "config"],
        env={**env, **overrides},
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    return dict(yaml.safe_load(result.stdout))


@pytest.fixture(scope="module")
def raw() -> dict[str, Any]:
    return dict(yaml.safe_load(COMPOSE_FILE.read_text()))


@pytest.fixture(scope="module")
def resolved() -> dict[str, Any]:
    if shutil.which("docker-compose") is None:
        pytest.skip("docker-compose not installed (Debian package docker-compose; .ci/run installs it)")
    return compose_config()


def argv(service: dict[str, Any]) -> list[str]:
    command = service.get("command", [])
    # A string command is split like a shell by docker-compose (docker-py's split_command).
    return shlex.split(command) if isinstance(command, str) else [str(a) for a in command]


def option(args: list[str], name: str) -> str | None:
    return args[args.index(name) + 1] if name in args and args.index(name) + 1 < len(args) else None


def container_ports(service: dict[str, Any]) -> set[int]:
    """Container side of ``ports`` in any spelling: "H:C", "IP:H:C/tcp" or the long form."""
    found = set()
    for port in service.get("ports", []):
        target = port["target"] if isinstance(port, dict) else str(port).split("/")[0].split(":")[-1]
        found.add(int(target))
    return found


def mounts(service: dict[str, Any]) -> dict[str, str]:
    """target -> source of ``volumes`` ("SRC:TARGET[:MODE]" or the long form)."""
    found = {}
    for volume in service.get("volumes", []):
        if isinstance(volume, dict):
            found[volume["target"]] = str(volume.get("source", ""))
        else:
            parts = str(volume).split(":")
            found[parts[1] if len(parts) > 1 else parts[0]] = parts[0] if len(parts) > 1 else ""
    return found


def condition(service: dict[str, Any], dependency: str) -> str | None:
    depends = service.get("depends_on", {})
    return depends.get(dependency, {}).get("condition") if isinstance(depends, dict) else None


@needs_compose
def test_compose_file_validates_with_the_installed_docker_compose() -> None:
    result = subprocess.run(
        ["docker-compose", "-f", str(COMPOSE_FILE), "config", "-q"],
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr


def test_every_variable_has_a_default_and_is_documented_at_the_top() -> None:
    text = COMPOSE_FILE.read_text()
    header = "\n".join(line for line in text.splitlines() if line.startswith("#"))
    header = header.split("\nservices:")[0]
    without_default = sorted(
        {m.group(1) for m in VARIABLE.finditer(text) if not (m.group(2) or "").startswith(":-")}
    )
    assert not without_default, f"no ${{VAR:-default}}: {without_default}"
    undocumented = sorted(v for v in compose_variables() if not re.search(rf"^#\s+{v}\b", header, re.M))
    assert not undocumented, f"not documented in the header comment: {undocumented}"


@needs_compose
def test_variables_reach_the_services() -> None:
    config = compose_config(ANALYZER_REPLICAS="5", SENSOR_INTERFACE="ens5", APICENSUS_STREAM="s2")
    assert config["services"]["analyzer"]["deploy"]["replicas"] == 5
    sensor = argv(config["services"]["sensor"])
    assert option(sensor, "--interface") == "ens5"
    assert config["services"]["analyzer"]["environment"]["APICENSUS_STREAM"] == "s2"
    assert config["services"]["sensor"]["environment"]["APICENSUS_STREAM"] == "s2"


def test_required_services_are_present(raw: dict[str, Any]) -> None:
    assert set(SERVICES) <= set(raw["services"])


def test_postgres_is_15_with_healthcheck_and_named_volume(resolved: dict[str, Any]) -> None:
    pg = resolved["services"]["postgres"]
    assert pg["image"] == "postgres:15"
    assert "pg_isready" in " ".join(pg["healthcheck"]["test"])
    assert mounts(pg).get("/var/lib/postgresql/data") in resolved["volumes"]


def test_nats_runs_jetstream_on_a_volume_with_health_and_host_port(resolved: dict[str, Any]) -> None:
    nats = resolved["services"]["nats"]
    assert nats["image"].startswith("nats:2")
    args = argv(nats)
    assert "-js" in args and option(args, "-sd") == "/data"
    assert mounts(nats).get("/data") in resolved["volumes"]
    health = " ".join(nats["healthcheck"]["test"])
    assert "8222" in health and "/healthz" in health and option(args, "-m") == "8222"
    # The host-networked sensor reaches NATS through the host: 4222 must be published.
    assert 4222 in container_ports(nats)


def test_migrate_is_one_shot_after_postgres_is_healthy(resolved: dict[str, Any]) -> None:
    migrate = resolved["services"]["migrate"]
    assert argv(migrate) == ["migrate"]
    assert str(migrate.get("restart", "no")) == "no"
    assert "ports" not in migrate and "deploy" not in migrate
    assert condition(migrate, "postgres") == "service_healthy"


def test_inventory_serves_after_migrate_with_healthcheck(resolved: dict[str, Any]) -> None:
    inventory = resolved["services"]["inventory"]
    args = argv(inventory)
    assert args[0] == "serve" and option(args, "--bind") == "0.0.0.0:8000"
    assert condition(inventory, "migrate") == "service_completed_successfully"
    assert 8000 in container_ports(inventory)
    assert "/health" in " ".join(inventory["healthcheck"]["test"])


def test_analyzer_consumes_nats_and_scales(resolved: dict[str, Any]) -> None:
    analyzer = resolved["services"]["analyzer"]
    args = argv(analyzer)
    assert args[0] == "analyzer" and (option(args, "--from") or "").startswith("nats://nats:4222")
    assert condition(analyzer, "migrate") == "service_completed_successfully"
    assert condition(analyzer, "nats") == "service_healthy"
    assert analyzer["deploy"]["replicas"] >= 1
    # Either would pin one container and make replicas > 1 fail to start.
    assert "container_name" not in analyzer and "ports" not in analyzer


def test_sensor_captures_on_the_host_and_ships_to_published_nats(resolved: dict[str, Any]) -> None:
    sensor = resolved["services"]["sensor"]
    assert sensor["network_mode"] == "host"
    assert {"NET_RAW", "NET_ADMIN"} <= set(sensor["cap_add"])
    assert str(sensor.get("user", "")).split(":")[0] in ("0", "root")
    args = argv(sensor)
    assert args[0] == "sensor" and option(args, "--interface") == "eth0"
    assert option(args, "--ship") == "nats://127.0.0.1:4222"
    spool = option(args, "--spool-dir")
    # On a named volume: exchanges spooled during a NATS outage survive a container restart.
    assert mounts(sensor).get(str(spool)) in resolved["volumes"]


@pytest.mark.parametrize("service", ["migrate", "inventory", "analyzer", "sensor"])
def test_commands_exist_in_the_cli(resolved: dict[str, Any], service: str) -> None:
    """Every subcommand and option the compose file passes is one the real parser knows."""
    args = argv(resolved["services"][service])
    known = cli_commands().get(args[0])
    if known is None:
        pytest.skip(f"`apicensus {args[0]}` is not in this CLI yet")
    if args[0] == "sensor" and "--ship" not in known:
        # The sensor predates issue 5; its shipping options arrive together with --ship.
        pytest.skip("`apicensus sensor --ship` is not in this CLI yet")
    unknown = [a.split("=")[0] for a in args[1:] if a.startswith("-") and a.split("=")[0] not in known]
    assert not unknown, f"apicensus {args[0]} has no {unknown}"


def test_dockerfile_base_libpcap_install_and_user() -> None:
    text = DOCKERFILE.read_text()
    assert re.search(r"^FROM python:3\.11-slim\b", text, re.M)
    assert "libpcap0.8" in text
    assert re.search(r"pip install -e \.(\s|$)", text, re.M)  # editable: migrations/ is not in a wheel
    # A compiler during the install, so the image's sensor is mypyc-compiled (setup.py).
    install = text[: text.index("pip install -e .")]
    assert "gcc" in install.rsplit("RUN", 1)[-1]
    users = re.findall(r"^USER (\S+)", text, re.M)
    assert users and users[-1] not in ("root", "0")
    ignored = (REPO_ROOT / ".dockerignore").read_text().split()
    assert ".venv" in ignored and ".git" in ignored


def test_images_built_here_are_the_apicensus_image(raw: dict[str, Any]) -> None:
    for name in ("migrate", "inventory", "analyzer", "sensor"):
        service = raw["services"][name]
        assert service.get("image", "").startswith("${APICENSUS_IMAGE"), name
        assert Path(REPO_ROOT / str(service.get("build", "."))).resolve() == REPO_ROOT
