"""The deployment topology as local processes, for end-to-end and fault tests (and for humans).

docker-compose.yml runs PostgreSQL, NATS JetStream, ``apicensus migrate``, ``apicensus serve``,
analyzer workers and a sensor in containers; ``LocalStack`` runs the same pieces as plain
processes in a temporary directory, on free ports, so a test can stop, kill and restart any of
them without Docker and without touching the machine's own NATS or PostgreSQL:

    from tests.stack import LocalStack

    with LocalStack() as stack:                      # nats + database + migrate + key + serve
        stack.start_analyzer(idle_exit=5)
        stack.run_sensor("--pcap", "sample_pcaps/rest_api.pcap")
        stack.restart_nats()

- NATS: its own ``nats-server -js`` (store in TMP/nats, kept across restarts).
- PostgreSQL: a fresh database on the shared server (127.0.0.1:5432, or
  ``$APICENSUS_TEST_PG_URL``) dropped on exit, or with ``own_postgres=True`` a throwaway cluster
  (initdb in TMP, run as user postgres when we are root) that can be stopped and crashed.
- Every process logs to TMP/logs/NAME.log; every error raised here, and any exception leaving the
  ``with`` block, carries the tails of those logs.
- Everything is stopped and removed on exit, failure or not (``APICENSUS_STACK_KEEP=1`` keeps TMP).

For humans: ``python -m tests.stack up [--own-postgres] [--analyzers N]`` prints the URLs and keys
and runs until Ctrl-C.
"""

from __future__ import annotations

import argparse
import atexit
import contextlib
import functools
import os
import pwd
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any, NoReturn

REPO_ROOT = Path(__file__).resolve().parents[1]
PG_ADMIN_URL = os.environ.get("APICENSUS_TEST_PG_URL", "postgresql://postgres@127.0.0.1:5432/postgres")
LOG_TAIL_LINES = 25

# The apicensus command as this interpreter runs it: the venv of the test run, whatever is on PATH.
APICENSUS = (sys.executable, "-m", "apicensus_cli")


class StackError(AssertionError):
    """A stack process failed to start, died, or a wait timed out; the message ends with log tails.

    An AssertionError so pytest reports it as the test's failure, with the message in full."""


# --- what this machine has -------------------------------------------------------------------


def nats_server_path() -> str | None:
    for candidate in (
        os.environ.get("APICENSUS_NATS_SERVER"),
        "/usr/sbin/nats-server",
        shutil.which("nats-server"),
    ):
        if candidate and os.access(candidate, os.X_OK):
            return candidate
    return None


def pg_bin_dir() -> Path | None:
    """Directory holding initdb and pg_ctl: $APICENSUS_PG_BIN, the newest Debian one, or PATH."""
    candidates = []
    if os.environ.get("APICENSUS_PG_BIN"):
        candidates.append(Path(os.environ["APICENSUS_PG_BIN"]))

    def version(path: Path) -> float:
        try:
            return float(path.parent.name)
        except ValueError:
            return 0.0

    candidates += sorted(Path("/usr/lib/postgresql").glob("*/bin"), key=version, reverse=True)
    if shutil.which("initdb"):
        candidates.append(Path(shutil.which("initdb") or "").parent)
    for directory in candidates:
        if (directory / "initdb").exists() and (directory / "pg_ctl").exists():
            return directory
    return None


def missing_for_nats() -> str | None:
    """Why a stack cannot run here (for pytest.skip), or None."""
    if nats_server_path() is None:
        return "nats-server not found (/usr/sbin/nats-server, PATH or $APICENSUS_NATS_SERVER)"
    return None


def missing_for_own_postgres() -> str | None:
    if pg_bin_dir() is None:
        return "initdb/pg_ctl not found (/usr/lib/postgresql/*/bin, PATH or $APICENSUS_PG_BIN)"
    if os.geteuid() == 0:
        # PostgreSQL refuses to run as root: the cluster is initialised and run as user postgres.
        if shutil.which("runuser") is None:
            return "running as root and runuser is missing (needed to run PostgreSQL as postgres)"
        try:
            pwd.getpwnam("postgres")
        except KeyError:
            return "running as root and there is no postgres user to run PostgreSQL as"
    return None


@functools.cache
def cli_commands() -> dict[str, frozenset[str]]:
    """``apicensus`` subcommands -> their option strings, from the real parser (in-process: ~40 ms,
    against ~0.4 s for ``--help`` in a subprocess). Lets the stack and the tests follow what the
    CLI offers today: ``migrate``, ``analyzer`` and ``sensor --ship`` are being added."""
    import apicensus_cli

    parser = apicensus_cli.build_parser()
    found: dict[str, frozenset[str]] = {}
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for name, sub in action.choices.items():
                found[name] = frozenset(opt for a in sub._actions for opt in a.option_strings)
    return found


def cli_supports(command: str, option: str | None = None) -> bool:
    options = cli_commands().get(command)
    return options is not None and (option is None or option in options)


# --- small helpers ---------------------------------------------------------------------------


def free_port() -> int:
    """A port nobody listens on right now (the kernel's pick; racy, so starts retry)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def port_open(port: int, host: str = "127.0.0.1") -> bool:
    try:
        with socket.create_connection((host, port), timeout=0.5):
            return True
    except OSError:
        return False


def http_get(url: str, timeout: float = 2.0, headers: dict[str, str] | None = None) -> tuple[int, bytes]:
    """(status, body) of a GET; an HTTP error status is an answer, not an exception."""
    request = urllib.request.Request(url, headers=headers or {})
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            return response.status, response.read()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read()


def cli_flags(**opts: Any) -> list[str]:
    """``idle_exit=5, no_pii=True, durable=None`` -> ``["--idle-exit", "5", "--no-pii"]``.

    True is a bare flag, False/None leave it out, a list or tuple is comma-joined (--keep-headers)."""
    argv: list[str] = []
    for key, value in opts.items():
        flag = "--" + key.replace("_", "-")
        if value is None or value is False:
            continue
        if value is True:
            argv.append(flag)
        elif isinstance(value, list | tuple):
            argv += [flag, ",".join(str(v) for v in value)]
        else:
            argv += [flag, str(value)]
    return argv


def _die_with_parent() -> None:
    """In the child before exec: SIGKILL it when the test process dies. Cleanup covers every
    exit Python sees; this covers the ones it does not (pytest SIGKILLed by a CI timeout), which
    would otherwise leave nats-servers and services running in their own sessions."""
    if sys.platform.startswith("linux"):
        import ctypes

        pr_set_pdeathsig = 1
        with contextlib.suppress(OSError, AttributeError):
            ctypes.CDLL(None, use_errno=True).prctl(pr_set_pdeathsig, signal.SIGKILL)


def _tail(path: Path, lines: int) -> str:
    try:
        with path.open("rb") as handle:
            # Enough bytes for the last lines of any sane log without reading a big one whole.
            handle.seek(0, os.SEEK_END)
            handle.seek(max(0, handle.tell() - 200 * lines))
            text = handle.read().decode("utf-8", "replace")
    except OSError as exc:
        return f"(unreadable: {exc})"
    return "\n".join(text.splitlines()[-lines:])


# --- the stack -------------------------------------------------------------------------------


class LocalStack:
    """NATS + PostgreSQL database + migrated schema + sensor key + inventory service, as processes.

    ``with LocalStack(...) as stack:``; attributes: ``tmp``, ``logs``, ``nats_url``, ``db_url``,
    ``api_url``, ``ingest_url``, ``sensor_key``, ``env`` (what every child process gets)."""

    def __init__(
        self,
        *,
        own_postgres: bool = False,
        nats: bool = True,
        service: bool = True,
        migrate: bool | None = None,
        sensor_key: bool = True,
        stream: str = "apicensus",
        timeout: float = 30.0,
        keep: bool | None = None,
    ) -> None:
        """``migrate=None`` runs ``apicensus migrate`` when the CLI has it (``serve`` and ``keys``
        prepare the schema themselves meanwhile); ``timeout`` bounds every start-up wait."""
        self.own_postgres = own_postgres
        self.with_nats = nats
        self.with_service = service
        self.want_migrate = migrate
        self.want_sensor_key = sensor_key
        self.stream = stream
        self.timeout = timeout
        self.keep = bool(os.environ.get("APICENSUS_STACK_KEEP")) if keep is None else keep

        self.tmp = Path()
        self.logs = Path()
        self.nats_port = self.nats_monitor_port = 0
        self.pg_port = 0
        self.api_port = 0
        self.db_name = f"apicensus_stack_{secrets.token_hex(6)}"
        self.db_url = ""
        self.sensor_key: str | None = None
        self.migrated = False
        self.env: dict[str, str] = {}
        self.procs: dict[str, subprocess.Popen[bytes]] = {}
        self.analyzers: list[subprocess.Popen[bytes]] = []
        self.sensors: list[subprocess.Popen[bytes]] = []
        self._db_created = False
        self._pg_running = False
        self._counter = 0
        self._closed = True

    # -- lifecycle ----------------------------------------------------------------------------

    def __enter__(self) -> LocalStack:
        self.start()
        return self

    def __exit__(self, exc_type: Any, exc: BaseException | None, tb: Any) -> None:
        if isinstance(exc, Exception) and not isinstance(exc, StackError):
            # A failing assertion in the test body: the processes' side of the story, before the
            # logs are deleted (pytest prints exception notes under the traceback).
            exc.add_note(self.tails())
        self.close()

    def start(self) -> None:
        reason = missing_for_nats() if self.with_nats else None
        reason = reason or (missing_for_own_postgres() if self.own_postgres else None)
        if reason:
            raise StackError(f"LocalStack cannot start: {reason}")
        self._closed = False
        atexit.register(self.close)
        self.tmp = Path(tempfile.mkdtemp(prefix="apicensus-stack-"))
        # Traversable by the postgres user that runs an own cluster inside it.
        self.tmp.chmod(0o755)
        self.logs = self.tmp / "logs"
        self.logs.mkdir()
        try:
            if self.with_nats:
                self.nats_port, self.nats_monitor_port = free_port(), free_port()
                self.start_nats(wait=False)  # starts while the database is being prepared
            if self.own_postgres:
                self.pg_port = free_port()
                self.init_postgres()
                self.start_postgres()
            self._create_database()
            self._set_env()
            if self.with_nats:
                self._wait_for_first_nats()
            if self.want_migrate or (self.want_migrate is None and cli_supports("migrate")):
                self.migrate()
            if self.want_sensor_key:
                self.sensor_key = self.create_key("sensor", name="stack-sensor")
                self.env["APICENSUS_SENSOR_KEY"] = self.sensor_key
            if self.with_service:
                self.api_port = free_port()
                self.start_service()
        except BaseException as exc:
            if isinstance(exc, Exception) and not isinstance(exc, StackError):
                exc.add_note(self.tails())
            self.close()
            raise

    def close(self) -> None:
        """Stop everything and remove TMP; safe to call twice and after a failed start."""
        if self._closed:
            return
        self._closed = True
        with contextlib.suppress(Exception):
            atexit.unregister(self.close)
        problems: list[str] = []

        def attempt(what: str, action: Callable[[], object]) -> None:
            try:
                action()
            except Exception as exc:  # keep cleaning up: one failure must not leak the rest
                problems.append(f"{what}: {exc}")

        # Producers and consumers first, then what they talk to.
        attempt("processes", lambda: self._stop_all([n for n in self.procs if n != "nats"]))
        attempt("nats", lambda: self._stop_all(["nats"]))
        if self._db_created:
            attempt("drop database", self._drop_database)
        if self.own_postgres and self._pg_running:
            attempt("postgres", lambda: self.stop_postgres(mode="immediate"))
        if self.tmp != Path() and self.tmp.exists():
            if self.keep:
                print(f"LocalStack: kept {self.tmp}", file=sys.stderr)
            else:
                attempt("remove tmp", lambda: shutil.rmtree(self.tmp))
        if problems:
            print("LocalStack cleanup problems: " + "; ".join(problems), file=sys.stderr)

    # -- processes ----------------------------------------------------------------------------

    def _set_env(self) -> None:
        env = {k: v for k, v in os.environ.items() if not k.startswith("APICENSUS_")}
        # This checkout's code first, whatever the venv's editable install points at.
        env["PYTHONPATH"] = os.pathsep.join(p for p in (str(REPO_ROOT), os.environ.get("PYTHONPATH")) if p)
        env["PYTHONUNBUFFERED"] = "1"  # logs reach the files (and the tails) as they happen
        env["APICENSUS_DATABASE_URL"] = self.db_url
        env["APICENSUS_STREAM"] = self.stream
        env["APICENSUS_LOG_FORMAT"] = "json"
        self.env = env

    def _log_path(self, name: str) -> Path:
        return self.logs / f"{name}.log"

    def start_process(
        self, name: str, argv: Sequence[str], *, env: dict[str, str] | None = None
    ) -> subprocess.Popen[bytes]:
        """Start ``argv`` in the background, stdout+stderr appended to TMP/logs/NAME.log."""
        old = self.procs.get(name)
        if old is not None and old.poll() is None:
            raise StackError(f"{name} is already running (pid {old.pid})")
        path = self._log_path(name)
        with path.open("ab") as log:
            log.write(f"=== {time.strftime('%H:%M:%S')} start: {' '.join(argv)}\n".encode())
            log.flush()
            proc = subprocess.Popen(
                list(argv),
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                cwd=self.tmp,
                env={**self.env, **(env or {})} if self.env else None,
                # Own process group: Ctrl-C in a terminal reaches only us (we stop the children
                # in order), and a child's own children (sensor --workers) die with it.
                start_new_session=True,
                preexec_fn=_die_with_parent,
            )
        self.procs[name] = proc
        return proc

    def run(
        self,
        name: str,
        argv: Sequence[str],
        *,
        timeout: float | None = None,
        check: bool = True,
        secret_stdout: bool = False,
    ) -> subprocess.CompletedProcess[str]:
        """Run to completion; stdout returned (and logged unless ``secret_stdout``: log tails end
        up in CI output), stderr logged; non-zero exit raises when ``check``."""
        path = self._log_path(name)
        with path.open("ab") as log:
            log.write(f"=== {time.strftime('%H:%M:%S')} run: {' '.join(argv)}\n".encode())
            log.flush()
            try:
                result = subprocess.run(
                    list(argv),
                    stdin=subprocess.DEVNULL,
                    stdout=subprocess.PIPE,
                    stderr=log,
                    cwd=self.tmp,
                    env=self.env or None,
                    timeout=timeout or self.timeout,
                    check=False,
                )
            except subprocess.TimeoutExpired as exc:
                log.write(exc.stdout or b"")
                self.fail(f"{name} did not finish within {timeout or self.timeout:.0f} s: {' '.join(argv)}")
            if secret_stdout and result.stdout:
                log.write(b"(stdout withheld: secret)\n")
            elif len(result.stdout) > 16384:
                # An export is data, not a diagnostic: its start is enough to recognise it.
                log.write(result.stdout[:4096] + f"\n(... {len(result.stdout)} bytes of stdout)\n".encode())
            else:
                log.write(result.stdout)
            log.write(f"=== exit {result.returncode}\n".encode())
        completed = subprocess.CompletedProcess(
            result.args, result.returncode, result.stdout.decode("utf-8", "replace"), None
        )
        if check and result.returncode != 0:
            self.fail(f"{name} exited {result.returncode}: {' '.join(argv)}")
        return completed

    def apicensus(
        self, *args: str, timeout: float | None = None, check: bool = True, secret_stdout: bool = False
    ) -> subprocess.CompletedProcess[str]:
        """Run one ``apicensus`` command against this stack (env has the database URL and key)."""
        name = f"apicensus-{args[0] if args else 'help'}"
        argv = [*APICENSUS, *args]
        return self.run(name, argv, timeout=timeout, check=check, secret_stdout=secret_stdout)

    def _signal(self, proc: subprocess.Popen[bytes], sig: signal.Signals) -> None:
        if proc.poll() is not None:
            return
        try:
            os.killpg(proc.pid, sig)
        except ProcessLookupError:
            pass
        except PermissionError:
            proc.send_signal(sig)

    def _name_of(self, target: str | subprocess.Popen[bytes]) -> tuple[str, subprocess.Popen[bytes]]:
        if isinstance(target, str):
            if target not in self.procs:
                raise StackError(f"no process named {target!r} (known: {', '.join(self.procs)})")
            return target, self.procs[target]
        for name, proc in self.procs.items():
            if proc is target:
                return name, proc
        raise StackError(f"pid {target.pid} is not a stack process")

    def stop_process(self, target: str | subprocess.Popen[bytes], timeout: float = 10.0) -> int:
        """SIGTERM, then SIGKILL after ``timeout``; returns the exit status."""
        name, proc = self._name_of(target)
        self._signal(proc, signal.SIGTERM)
        try:
            code = proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self._signal(proc, signal.SIGKILL)
            code = proc.wait(5)
        self._note(name, f"stopped, exit {code}")
        return code

    def kill_process(self, target: str | subprocess.Popen[bytes]) -> int:
        """SIGKILL (a crash: no shutdown handler runs); returns the exit status."""
        name, proc = self._name_of(target)
        self._signal(proc, signal.SIGKILL)
        code = proc.wait(5)
        self._note(name, f"killed, exit {code}")
        return code

    def _stop_all(self, names: Sequence[str], timeout: float = 10.0) -> None:
        # TERM to all at once, then one shared deadline: N analyzers stop in ~1 s, not N s.
        live = [(n, self.procs[n]) for n in names if n in self.procs and self.procs[n].poll() is None]
        for _, proc in live:
            self._signal(proc, signal.SIGTERM)
        deadline = time.monotonic() + timeout
        for _, proc in live:
            try:
                proc.wait(max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                self._signal(proc, signal.SIGKILL)
                proc.wait(5)

    def _note(self, name: str, message: str) -> None:
        with contextlib.suppress(OSError), self._log_path(name).open("ab") as log:
            log.write(f"=== {time.strftime('%H:%M:%S')} {message}\n".encode())

    # -- failures and waiting -----------------------------------------------------------------

    def tails(self, lines: int = LOG_TAIL_LINES) -> str:
        if not self.logs.is_dir():
            return "(no logs)"
        parts = [f"--- last {lines} lines of each log in {self.logs} ---"]
        for path in sorted(self.logs.glob("*.log"), key=lambda p: p.stat().st_mtime):
            parts.append(f"== {path.name} ==\n{_tail(path, lines)}")
        return "\n".join(parts)

    def fail(self, message: str) -> NoReturn:
        raise StackError(f"{message}\n{self.tails()}")

    def wait_until(
        self,
        predicate: Callable[[], object],
        *,
        timeout: float | None = None,
        what: str = "condition",
        proc: subprocess.Popen[bytes] | None = None,
        interval: float = 0.05,
    ) -> Any:
        """Poll until ``predicate()`` is truthy (returned); fail on timeout or if ``proc`` exits."""
        limit = self.timeout if timeout is None else timeout
        deadline = time.monotonic() + limit
        while True:
            value = predicate()
            if value:
                return value
            if proc is not None and proc.poll() is not None:
                self.fail(f"waiting for {what}: the process exited with status {proc.returncode}")
            if time.monotonic() > deadline:
                self.fail(f"timed out after {limit:.0f} s waiting for {what}")
            time.sleep(interval)

    def wait_for_port(
        self,
        port: int,
        *,
        host: str = "127.0.0.1",
        timeout: float | None = None,
        proc: subprocess.Popen[bytes] | None = None,
    ) -> None:
        self.wait_until(
            lambda: port_open(port, host), timeout=timeout, what=f"{host}:{port} to accept", proc=proc
        )

    def wait_for_port_closed(
        self, port: int, *, host: str = "127.0.0.1", timeout: float | None = None
    ) -> None:
        self.wait_until(lambda: not port_open(port, host), timeout=timeout, what=f"{host}:{port} to close")

    def wait_for_http(
        self,
        url: str,
        *,
        status: int = 200,
        timeout: float | None = None,
        proc: subprocess.Popen[bytes] | None = None,
    ) -> bytes:
        """Body of the first GET answering ``status``."""

        def probe() -> bytes | None:
            try:
                code, body = http_get(url, timeout=2.0)
            except OSError:
                return None
            return (body or b" ") if code == status else None

        return bytes(self.wait_until(probe, timeout=timeout, what=f"GET {url} -> {status}", proc=proc))

    def wait_for_exit(self, target: str | subprocess.Popen[bytes], timeout: float | None = None) -> int:
        name, proc = self._name_of(target)
        limit = self.timeout if timeout is None else timeout
        try:
            return proc.wait(limit)
        except subprocess.TimeoutExpired:
            self.fail(f"{name} still running after {limit:.0f} s")

    # -- NATS ---------------------------------------------------------------------------------

    @property
    def nats_url(self) -> str:
        return f"nats://127.0.0.1:{self.nats_port}"

    @property
    def nats_monitor_url(self) -> str:
        return f"http://127.0.0.1:{self.nats_monitor_port}"

    def start_nats(self, *, wait: bool = True) -> subprocess.Popen[bytes]:
        """Start (or restart) our nats-server on its port; JetStream state stays in TMP/nats."""
        server = nats_server_path()
        assert server is not None
        argv = [
            server,
            "-a",
            "127.0.0.1",
            "-p",
            str(self.nats_port),
            # Monitoring port: /healthz is 200 only once JetStream has recovered its streams.
            "-m",
            str(self.nats_monitor_port),
            "-js",
            "-sd",
            str(self.tmp / "nats"),
        ]
        proc = self.start_process("nats", argv)
        if wait:
            self.wait_for_nats()
        return proc

    def _wait_for_first_nats(self, attempts: int = 3) -> None:
        """The first start's wait: free_port() is racy (another test may bind the port between
        the pick and nats-server's bind), so a server that exits because its port was taken is
        started again on new ports -- before any client was told the old ones."""
        for attempt in range(attempts):
            try:
                self.wait_for_nats()
                return
            except StackError:
                taken = b"address already in use" in self._log_path("nats").read_bytes()
                if attempt == attempts - 1 or not taken or self.procs["nats"].poll() is None:
                    raise
                self._note("nats", "port taken by another process: new ports")
                self.nats_port, self.nats_monitor_port = free_port(), free_port()
                self.start_nats(wait=False)

    def wait_for_nats(self, timeout: float | None = None) -> None:
        self.wait_for_http(f"{self.nats_monitor_url}/healthz", timeout=timeout, proc=self.procs["nats"])

    def stop_nats(self) -> int:
        code = self.stop_process("nats")
        self.wait_for_port_closed(self.nats_port)
        return code

    def kill_nats(self) -> int:
        code = self.kill_process("nats")
        self.wait_for_port_closed(self.nats_port)
        return code

    def restart_nats(self, *, kill: bool = False) -> subprocess.Popen[bytes]:
        """Stop (or SIGKILL) and start again on the same port, so clients can reconnect."""
        if self.procs.get("nats") is not None and self.procs["nats"].poll() is None:
            (self.kill_nats if kill else self.stop_nats)()
        return self.start_nats()

    # -- PostgreSQL ---------------------------------------------------------------------------

    @property
    def pg_data(self) -> Path:
        return self.tmp / "pg" / "data"

    def _as_postgres(self, argv: list[str]) -> list[str]:
        # PostgreSQL will not run as root; as anyone else it runs as that user.
        return ["runuser", "-u", "postgres", "--", *argv] if os.geteuid() == 0 else argv

    def _pg_tool(self, tool: str, *args: str, timeout: float | None = None) -> None:
        bindir = pg_bin_dir()
        assert bindir is not None
        self.run(
            "pg_ctl" if tool == "pg_ctl" else tool,
            self._as_postgres([str(bindir / tool), *args]),
            timeout=timeout,
        )

    def init_postgres(self) -> None:
        """initdb a throwaway cluster in TMP/pg/data (trust auth, superuser postgres)."""
        root = self.tmp / "pg"
        root.mkdir()
        log = self._log_path("postgres")
        log.touch()
        if os.geteuid() == 0:
            user = pwd.getpwnam("postgres")
            os.chown(root, user.pw_uid, user.pw_gid)
            os.chown(log, user.pw_uid, user.pw_gid)  # pg_ctl -l writes it as postgres
        self._pg_tool(
            "initdb",
            "-D",
            str(self.pg_data),
            "-U",
            "postgres",
            "--auth=trust",
            "-E",
            "UTF8",
            "--no-locale",
            "--no-sync",
            timeout=max(self.timeout, 60),
        )
        with (self.pg_data / "postgresql.conf").open("a") as conf:
            conf.write(
                "\n# LocalStack: its own port and socket directory, never the machine's cluster.\n"
                "# fsync/full_page_writes only guard against an OS crash, which a throwaway cluster\n"
                "# does not care about; synchronous_commit stays on so that a crash of PostgreSQL\n"
                "# itself (stop -m immediate) loses no committed transaction: fault tests count.\n"
                f"port = {self.pg_port}\n"
                "listen_addresses = '127.0.0.1'\n"
                f"unix_socket_directories = '{self.pg_data}'\n"
                "fsync = off\nfull_page_writes = off\n"
                "max_connections = 200\n"
            )

    def start_postgres(self) -> None:
        """Start the own cluster (``own_postgres=True``) and wait until it accepts connections."""
        self._require_own_postgres("start")
        self._pg_tool(
            "pg_ctl",
            "-D",
            str(self.pg_data),
            "-l",
            str(self._log_path("postgres")),
            "-w",
            "-t",
            str(int(max(self.timeout, 30))),
            "start",
        )
        self._pg_running = True
        self.wait_for_port(self.pg_port)

    def stop_postgres(self, mode: str = "fast") -> None:
        """``fast``: clean shutdown, sessions cut; ``immediate``: a crash as clients see it (no
        checkpoint, recovery at the next start)."""
        self._require_own_postgres("stop")
        self._pg_tool("pg_ctl", "-D", str(self.pg_data), "-m", mode, "-w", "stop")
        self._pg_running = False
        self.wait_for_port_closed(self.pg_port)

    def kill_postgres(self) -> None:
        # Not SIGKILL of the postmaster: orphaned backends would hold its shared memory and the
        # restart would fail; immediate mode is the crash a client can observe.
        self.stop_postgres(mode="immediate")

    def restart_postgres(self, *, kill: bool = False) -> None:
        if self._pg_running:
            self.stop_postgres(mode="immediate" if kill else "fast")
        self.start_postgres()

    def _require_own_postgres(self, action: str) -> None:
        if not self.own_postgres:
            raise StackError(
                f"cannot {action} PostgreSQL: it is the machine's; use LocalStack(own_postgres=True)"
            )

    def _admin_url(self) -> Any:
        from sqlalchemy.engine import make_url

        if self.own_postgres:
            return make_url(f"postgresql://postgres@127.0.0.1:{self.pg_port}/postgres")
        return make_url(PG_ADMIN_URL)

    @contextlib.contextmanager
    def _admin(self) -> Iterator[Any]:
        import psycopg2

        url = self._admin_url()
        conn = psycopg2.connect(
            host=url.host or "127.0.0.1",
            port=url.port or 5432,
            user=url.username or "postgres",
            password=url.password,
            dbname=url.database or "postgres",
            connect_timeout=5,
        )
        conn.autocommit = True
        try:
            with conn.cursor() as cur:
                yield cur
        finally:
            conn.close()

    def _create_database(self) -> None:
        try:
            with self._admin() as cur:
                cur.execute(f'CREATE DATABASE "{self.db_name}"')
        except Exception as exc:
            self.fail(f"cannot create database {self.db_name} at {self._admin_url()!r}: {exc}")
        self._db_created = True
        url = self._admin_url().set(database=self.db_name)
        self.db_url = url.render_as_string(hide_password=False)

    def _drop_database(self) -> None:
        if self.own_postgres and not self._pg_running:
            return  # the whole cluster goes with TMP
        with self._admin() as cur:
            cur.execute(f'DROP DATABASE IF EXISTS "{self.db_name}" WITH (FORCE)')
        self._db_created = False

    # -- apicensus ----------------------------------------------------------------------------

    def migrate(self) -> None:
        self.apicensus("migrate", "--db", self.db_url, timeout=max(self.timeout, 120))
        self.migrated = True

    def create_key(self, role: str, *, name: str | None = None) -> str:
        """A new API key (``admin``, ``analyst``, ``viewer``, ``sensor``)."""
        args = ["keys", "create", "--role", role, "--db", self.db_url]
        key = self.apicensus(*args, *(["--name", name] if name else []), secret_stdout=True).stdout.strip()
        if not key or len(key.split()) != 1:
            self.fail(f"keys create printed {key!r}, expected one key")
        return key

    @functools.cached_property
    def admin_key(self) -> str:
        return self.create_key("admin", name="stack-admin")

    @property
    def api_url(self) -> str:
        return f"http://127.0.0.1:{self.api_port}"

    @property
    def ingest_url(self) -> str:
        return f"{self.api_url}/api/v1/ingest"

    def start_service(self, *, wait: bool = True) -> subprocess.Popen[bytes]:
        """``apicensus serve`` on its port; waits for /health 200 (database reachable)."""
        if not self.api_port:
            self.api_port = free_port()
        argv = [*APICENSUS, "serve", "--db", self.db_url, "--bind", f"127.0.0.1:{self.api_port}"]
        proc = self.start_process("serve", argv)
        if wait:
            self.wait_for_health()
        return proc

    def wait_for_health(self, timeout: float | None = None) -> dict[str, Any]:
        import json

        proc = self.procs.get("serve")
        return dict(json.loads(self.wait_for_http(f"{self.api_url}/health", timeout=timeout, proc=proc)))

    def stop_service(self) -> int:
        code = self.stop_process("serve")
        self.wait_for_port_closed(self.api_port)
        return code

    def kill_service(self) -> int:
        code = self.kill_process("serve")
        self.wait_for_port_closed(self.api_port)
        return code

    def restart_service(self, *, kill: bool = False) -> subprocess.Popen[bytes]:
        if self.procs.get("serve") is not None and self.procs["serve"].poll() is None:
            (self.kill_service if kill else self.stop_service)()
        return self.start_service()

    def api_get(self, path: str, *, key: str | None = None, timeout: float = 10.0) -> tuple[int, Any]:
        """(status, decoded JSON or raw bytes) of GET ``path`` with ``key`` (default: an admin key)."""
        import json

        status, body = http_get(
            f"{self.api_url}{path}", timeout=timeout, headers={"X-API-Key": key or self.admin_key}
        )
        try:
            return status, json.loads(body)
        except ValueError:
            return status, body

    # -- workers ------------------------------------------------------------------------------

    def _next_name(self, kind: str) -> str:
        self._counter += 1
        return f"{kind}-{self._counter}"

    def start_analyzer(self, *args: str, **opts: Any) -> subprocess.Popen[bytes]:
        """``apicensus analyzer --from NATS --db DB`` plus ``cli_flags(**opts)`` and ``args``
        (``idle_exit=5, durable="d", no_pii=True, metrics="127.0.0.1:0"``). Several may run."""
        argv = [
            *APICENSUS,
            "analyzer",
            "--from",
            self.nats_url,
            "--db",
            self.db_url,
            *cli_flags(**opts),
            *args,
        ]
        proc = self.start_process(self._next_name("analyzer"), argv)
        self.analyzers.append(proc)
        return proc

    def stop_analyzers(self) -> list[int]:
        names = [self._name_of(p)[0] for p in self.analyzers]
        self._stop_all(names)
        return [p.returncode for p in self.analyzers]

    def _sensor_argv(
        self, name: str, args: Sequence[str], ship: str | None, opts: dict[str, Any]
    ) -> list[str]:
        if ship in (None, "nats"):
            ship = self.nats_url
        elif ship == "http":
            ship = self.ingest_url
        argv = [*APICENSUS, "sensor", *args, "--ship", ship, *cli_flags(**opts)]
        if "--spool-dir" not in argv:
            # Never the default spool location: another test's (or the machine's) leftovers.
            argv += ["--spool-dir", str(self.tmp / "spool" / name)]
        return argv

    def start_sensor(self, *args: str, ship: str | None = None, **opts: Any) -> subprocess.Popen[bytes]:
        """``apicensus sensor ARGS --ship URL``: ship ``None``/``"nats"`` (this NATS), ``"http"``
        (this service's ingest, with the sensor key from the env) or an explicit URL."""
        name = self._next_name("sensor")
        proc = self.start_process(name, self._sensor_argv(name, args, ship, opts))
        self.sensors.append(proc)
        return proc

    def run_sensor(
        self,
        *args: str,
        ship: str | None = None,
        timeout: float | None = None,
        check: bool = True,
        **opts: Any,
    ) -> subprocess.CompletedProcess[str]:
        """The sensor to completion (``--pcap FILE...``); non-zero exit raises when ``check``."""
        name = self._next_name("sensor")
        argv = self._sensor_argv(name, args, ship, opts)
        return self.run(name, argv, timeout=timeout or max(self.timeout, 120), check=check)

    sensor = run_sensor


# --- python -m tests.stack up ------------------------------------------------------------------


def _main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tests.stack", description=__doc__.split("\n\n")[0])
    sub = parser.add_subparsers(dest="action", required=True)
    up = sub.add_parser("up", help="start the stack, print its URLs and keys, run until Ctrl-C")
    up.add_argument("--own-postgres", action="store_true", help="a throwaway cluster instead of a database")
    up.add_argument("--analyzers", type=int, default=1, metavar="N", help="analyzer workers (default 1)")
    up.add_argument("--keep", action="store_true", help="keep the temporary directory on exit")
    args = parser.parse_args(argv)

    def interrupted(_signum: int, _frame: Any) -> None:
        raise KeyboardInterrupt

    # SIGTERM (kill, systemd, CI timeouts) cleans up like Ctrl-C does; SIGINT explicitly too,
    # because a shell starting us in the background (`... &`) hands us SIGINT ignored.
    signal.signal(signal.SIGTERM, interrupted)
    signal.signal(signal.SIGINT, interrupted)
    with LocalStack(own_postgres=args.own_postgres, keep=args.keep or None) as stack:
        analyzers = 0
        if cli_supports("analyzer"):
            for _ in range(args.analyzers):
                stack.start_analyzer()
            analyzers = args.analyzers
        reported: set[str] = set()
        try:
            # (The URLs are printed inside the try: a Ctrl-C right after they appear, before the
            # loop, must stop the stack cleanly too; seen under load: exit by SIGINT, -2.)
            print(
                "APICensus local stack (Ctrl-C stops it and removes everything)\n"
                f"  NATS        {stack.nats_url}   (monitoring {stack.nats_monitor_url}, stream {stack.stream})\n"
                f"  database    {stack.db_url}{'   (own cluster)' if stack.own_postgres else ''}\n"
                f"  inventory   {stack.api_url}   (health {stack.api_url}/health)\n"
                f"  admin key   {stack.admin_key}\n"
                f"  sensor key  {stack.sensor_key}\n"
                f"  analyzers   {analyzers}{'' if cli_supports('analyzer') else ' (apicensus analyzer not available)'}\n"
                f"  logs        {stack.logs}\n"
                "Feed it:\n"
                f"  apicensus sensor --pcap sample_pcaps/*.pcap --ship {stack.nats_url}\n"
                f"  curl -H 'X-API-Key: {stack.admin_key}' {stack.api_url}/api/v1/endpoints",
                flush=True,
            )
            while True:
                time.sleep(1)
                for name, proc in stack.procs.items():
                    if proc.poll() is not None and name not in reported:
                        reported.add(name)
                        print(
                            f"{name} exited with status {proc.returncode}:\n{_tail(stack._log_path(name), 15)}",
                            file=sys.stderr,
                            flush=True,
                        )
        except KeyboardInterrupt:
            print("\nstopping...", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(_main())
