"""A throwaway PostgreSQL primary and its streaming replica on loopback, for the replica tests:
``initdb`` into a temporary folder, ``pg_basebackup -R`` into a second, both servers started on
free ports (as user ``postgres`` when run as root: the server refuses root) and always stopped."""

from __future__ import annotations

import contextlib
import glob
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

# Fast and small: nothing here needs to survive a crash.
SERVER_OPTIONS = (
    "fsync=off",
    "synchronous_commit=off",
    "full_page_writes=off",
    "shared_buffers=16MB",
    "max_connections=40",
    "wal_level=replica",
    "max_wal_senders=4",
    "hot_standby=on",
    # The replica's queries are never cancelled by the replay they would hold up while paused.
    "max_standby_streaming_delay=-1",
)


TOOLS = ("initdb", "pg_ctl", "pg_basebackup", "psql")


def server_tools() -> Path | None:
    """The folder holding ``initdb``, ``pg_ctl``, ``pg_basebackup`` and ``psql`` together (the
    newest Debian version first, else where ``pg_ctl`` on the PATH really lives), or None."""
    folders = sorted(glob.glob("/usr/lib/postgresql/*/bin"), key=lambda f: int(f.split("/")[-2]))
    found = shutil.which("pg_ctl")
    candidates = [*reversed(folders), *([str(Path(found).resolve().parent)] if found else [])]
    for folder in candidates:
        if all(Path(folder, tool).exists() for tool in TOOLS):
            return Path(folder)
    return None


def why_not() -> str | None:
    """Why the cluster cannot run here (one line), or None when it can."""
    if server_tools() is None:
        return "the PostgreSQL server tools (initdb, pg_ctl, pg_basebackup, psql) are not installed"
    if os.geteuid() == 0 and (shutil.which("runuser") is None or not _has_postgres_user()):
        return "run as root without a postgres user to run the server as"
    return None


def _has_postgres_user() -> bool:
    import pwd

    try:
        pwd.getpwnam("postgres")
    except KeyError:
        return False
    return True


def free_port() -> int:
    """A loopback port nothing listens on now."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@dataclass(frozen=True, slots=True)
class Server:
    """One running server: its data folder and port."""

    data: Path
    port: int

    @property
    def url(self) -> str:
        """Its ``postgres`` database, for the application."""
        return f"postgresql+asyncpg://postgres@127.0.0.1:{self.port}/postgres"


@dataclass(frozen=True, slots=True)
class Cluster:
    """A primary and its streaming replica."""

    primary: Server
    replica: Server
    tools: Path

    def sql(self, server: Server, statement: str) -> str:
        """Run ``statement`` with psql on ``server``; its output, trimmed."""
        psql = [str(self.tools / "psql"), "-h", "127.0.0.1", "-p", str(server.port)]
        done = _run(
            [*psql, "-U", "postgres", "-d", "postgres", "-XAtc", statement], as_postgres=False
        )
        return done.stdout.strip()


def _run(command: list[str], *, as_postgres: bool = True) -> subprocess.CompletedProcess[str]:
    """``command`` (as user postgres when this is root), failing loudly with its output."""
    if as_postgres and os.geteuid() == 0:
        command = ["runuser", "-u", "postgres", "--", *command]
    done = subprocess.run(command, capture_output=True, text=True, timeout=120, check=False)
    if done.returncode != 0:
        raise RuntimeError(f"{' '.join(command)} failed:\n{done.stdout}\n{done.stderr}")
    return done


def _start(tools: Path, data: Path, port: int) -> None:
    options = " ".join(f"-c {o}" for o in SERVER_OPTIONS)
    options += f" -c port={port} -c listen_addresses=127.0.0.1 -c unix_socket_directories={data}"
    log = data / "server.log"
    _run([str(tools / "pg_ctl"), "-D", str(data), "-l", str(log), "-o", options, "-w", "start"])


def _stop(data: Path) -> None:
    """Stop the server of ``data`` (a fast shutdown: sessions cut, a checkpoint that fsync=off
    makes instant) and wait until it has exited."""
    with contextlib.suppress(OSError, ValueError, IndexError):
        pid = int((data / "postmaster.pid").read_text().split()[0])
        os.kill(pid, signal.SIGINT)
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline and not _exited(pid):
            time.sleep(0.01)
        os.kill(pid, signal.SIGKILL)


def _exited(pid: int) -> bool:
    """Whether process ``pid`` has ended (a zombie has: pg_ctl, its parent, is long gone, and
    whoever adopts it reaps it in its own time)."""
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return True
    return state == "Z"


@contextlib.contextmanager
def running_cluster() -> Iterator[Cluster]:
    """A fresh primary with a streaming replica that has caught up with it; both stopped and
    their folders removed afterwards, whatever happened."""
    tools = server_tools()
    assert tools is not None, why_not()
    root = Path(tempfile.mkdtemp(prefix="wolaiban-replica-"))
    root.chmod(0o755)
    primary, replica = root / "primary", root / "replica"
    for folder in (primary, replica):
        folder.mkdir(mode=0o700)
        if os.geteuid() == 0:
            shutil.chown(folder, "postgres", "postgres")
    started: list[Path] = []
    try:
        _run([str(tools / "initdb"), "-D", str(primary), "-U", "postgres", "--auth=trust", "-N"])
        first = free_port()
        _start(tools, primary, first)
        started.append(primary)
        source = ["-h", "127.0.0.1", "-p", str(first), "-U", "postgres"]
        # -R: the copy starts as a standby of the primary; a fast checkpoint starts it at once.
        copy = ["-D", str(replica), "-R", "-X", "stream", "-c", "fast", "-N"]
        _run([str(tools / "pg_basebackup"), *copy, *source])
        second = free_port()
        _start(tools, replica, second)
        started.append(replica)
        cluster = Cluster(Server(primary, first), Server(replica, second), tools)
        _wait_streaming(cluster)
        yield cluster
    finally:
        for data in reversed(started):
            _stop(data)
        shutil.rmtree(root, ignore_errors=True)


def _wait_streaming(cluster: Cluster, seconds: float = 30.0) -> None:
    """Until the replica is a standby streaming from the primary."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if cluster.sql(cluster.primary, "select count(*) from pg_stat_replication") == "1":
            return
        time.sleep(0.05)
    raise RuntimeError("the replica did not start streaming")
