"""A newcomer's first ten minutes: --version, `apicensus demo`, serve on a busy port, export on a
terminal, the SQLite lock file ignored by git, pytest skip reasons shown."""

from __future__ import annotations

import os
import pty
import re
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx

from tests.inventory_api.conftest import free_port

REPO = Path(__file__).resolve().parents[1]
CLI = [sys.executable, "-m", "apicensus_cli"]


def test_version() -> None:
    done = subprocess.run([*CLI, "--version"], cwd=REPO, capture_output=True, text=True, timeout=60)
    assert done.returncode == 0 and re.fullmatch(r"apicensus \d+\.\d+\.\d+.*\n", done.stdout)


def test_serve_on_a_busy_port_says_so_in_one_line(tmp_path: Path) -> None:
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        done = subprocess.run(
            [*CLI, "serve", "--db", f"sqlite:///{tmp_path / 'x.db'}", "--bind", f"127.0.0.1:{port}", "--workers", "2"],
            cwd=REPO, capture_output=True, text=True, timeout=60,
        )
    assert done.returncode == 2
    assert done.stderr.count("\n") == 1 and "address already in use" in done.stderr and str(port) in done.stderr


def _on_a_terminal(argv: list[str]) -> tuple[int, str]:
    """Run with stdout and stderr on a pseudo-terminal: (exit code, what the terminal showed)."""
    leader, follower = pty.openpty()
    proc = subprocess.Popen(argv, cwd=REPO, stdout=follower, stderr=follower, stdin=subprocess.DEVNULL)
    os.close(follower)
    shown = b""
    while True:
        try:
            chunk = os.read(leader, 65536)
        except OSError:  # EIO: the child closed the terminal
            break
        if not chunk:
            break
        shown += chunk
    os.close(leader)
    return proc.wait(timeout=60), shown.decode(errors="replace")


def test_export_refuses_thousands_of_lines_on_a_terminal(tmp_path: Path) -> None:
    db = f"sqlite:///{tmp_path / 'inv.db'}"
    pcaps = sorted(str(p) for p in (REPO / "sample_pcaps").glob("*.pcap"))
    assert subprocess.run([*CLI, "analyze", *pcaps, "--db", db, "--no-pii"], cwd=REPO, capture_output=True,
                          timeout=300).returncode == 0
    code, shown = _on_a_terminal([*CLI, "export", "--db", db])
    assert code == 2 and "--output FILE" in shown and shown.count("\n") <= 2
    code, shown = _on_a_terminal([*CLI, "export", "--db", db, "--output", "-"])
    assert code == 0 and shown.count("\n") > 1000
    out = tmp_path / "inventory.json"
    assert subprocess.run([*CLI, "export", "--db", db, "--output", str(out)], cwd=REPO, timeout=120).returncode == 0
    assert out.read_text().startswith("{")
    # Piped: no warning, everything.
    piped = subprocess.run([*CLI, "export", "--db", db], cwd=REPO, capture_output=True, timeout=120)
    assert piped.returncode == 0 and piped.stdout == out.read_bytes() and not piped.stderr
    # The writer lock beside the SQLite database is not something to commit.
    lock = tmp_path / "inv.db.apicensus-lock"
    assert lock.exists()
    probe = REPO / "probe.db.apicensus-lock"
    assert subprocess.run(["git", "check-ignore", "-q", str(probe)], cwd=REPO).returncode == 0


def test_pytest_shows_skip_reasons() -> None:
    text = (REPO / "pyproject.toml").read_text()
    addopts = re.search(r'^addopts = "([^"]*)"', text, re.M)
    assert addopts is not None and "-rs" in addopts.group(1).split()


def test_demo_analyses_the_samples_creates_a_key_and_serves(tmp_path: Path) -> None:
    port = free_port()
    proc = subprocess.Popen(
        [*CLI, "demo", "--db", f"sqlite:///{tmp_path / 'demo.db'}", "--bind", f"127.0.0.1:{port}"],
        cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        env={**os.environ, "PYTHONPATH": str(REPO)},
    )
    try:
        assert proc.stdout is not None
        lines: list[str] = []
        deadline = time.monotonic() + 180
        while not any("admin key" in line for line in lines):
            line = proc.stdout.readline()
            assert line or proc.poll() is None, (lines, proc.stderr.read() if proc.stderr else "")
            lines.append(line)
            assert time.monotonic() < deadline, lines
        key = next(line for line in lines if "admin key" in line).split()[-1]
        assert any(f"http://127.0.0.1:{port}/ui/" in line for line in lines)
        assert any("new endpoints" in line for line in lines)
        deadline = time.monotonic() + 60
        while True:
            try:
                response = httpx.get(f"http://127.0.0.1:{port}/api/v1/endpoints",
                                     headers={"Authorization": f"Bearer {key}"}, timeout=2)
                break
            except httpx.TransportError:
                assert proc.poll() is None and time.monotonic() < deadline
                time.sleep(0.2)
        assert response.status_code == 200 and len(response.json()["items"]) >= 10
        assert httpx.get(f"http://127.0.0.1:{port}/api/v1/endpoints", timeout=5).status_code == 401
    finally:
        proc.terminate()
        proc.wait(timeout=30)
        for stream in (proc.stdout, proc.stderr):
            if stream:
                stream.close()
