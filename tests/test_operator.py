"""What an operator meets running the service: a stop (SIGTERM from systemd, SIGKILL after it,
Ctrl-C) while a write is under way, and a twin the service's user may only read.

Real processes and real signals: each stop is sent once a condition shows the write under way (the
store's -wal file growing, a line the command printed), never after a fixed sleep. The read-only
tests run the child as `nobody` (setpriv), since the tests run as root, where permissions do not bite.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import orjson
import pytest
import shapely
from deadlines import HTTP, SERVER_START, STOP, SUBPROCESS

import cli
from bench.synth import AREA_OF_INTEREST, PARCELS, parcels, write_gpkg
from twin import Twin

CODE = Path(cli.__file__).resolve().parents[1]  # the code under test, run by the children
PYTHON = sys.executable
N = 30_000  # polygons: a commit that takes SQLite about a second to write on a 2-core machine


def _env(**extra: str) -> dict[str, str]:
    return {**os.environ, "PYTHONPATH": str(CODE), "PYTHONUNBUFFERED": "1", "HOME": "/tmp", **extra}


def _cli(*args: str, user: list[str] | None = None) -> subprocess.CompletedProcess[str]:
    cmd = [*(user or []), PYTHON, "-m", "cli.main", *args]
    return subprocess.run(cmd, env=_env(), cwd=CODE, capture_output=True, text=True, timeout=SUBPROCESS)


def _wait(condition, what: str, proc: subprocess.Popen[bytes] | None = None, timeout: float = SUBPROCESS) -> None:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while not condition():
        if proc is not None and proc.poll() is not None:
            raise AssertionError(f"the process ended ({proc.returncode}) before {what}")
        assert time.monotonic() < deadline, f"no {what} within {timeout:.0f} s"
        time.sleep(0.005)  # between polls of a condition


def _import_process(file: Path, store: Path, *, text: bool) -> subprocess.Popen:  # type: ignore[type-arg]
    """`venue-twin import` of `file` into the parcels layer of `store`, started, its output piped."""
    return subprocess.Popen(
        [PYTHON, "-m", "cli.main", "import", str(file), "--layer", PARCELS.name, "--store", str(store)],
        env=_env(),
        cwd=CODE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=text,
    )


def _stop_when(proc: subprocess.Popen, ready: Callable[[], None], sig: int) -> tuple[Any, Any]:  # type: ignore[type-arg]
    """Send `sig` to `proc` once `ready()` returns (it waits for the moment), and its output; a
    process still running after (a failed wait) is killed, so no test leaves one behind."""
    try:
        ready()
        proc.send_signal(sig)
        return proc.communicate(timeout=SUBPROCESS)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


def _wal_size(store: Path) -> int:
    wal = store.with_name(store.name + "-wal")
    return wal.stat().st_size if wal.exists() else 0


def _write_lock_held(store: Path) -> bool:
    """Whether a writer holds the twin's write lock (its transaction under way, perhaps all in
    memory yet): asked as a second writer would, without waiting."""
    import sqlite3

    c = sqlite3.connect(store, isolation_level=None, timeout=0)
    try:
        c.execute("BEGIN IMMEDIATE")
        c.execute("ROLLBACK")
        return False
    except sqlite3.OperationalError as e:
        assert "locked" in str(e), e
        return True
    finally:
        c.close()


def _state(store: Path) -> tuple[int, int, list[str]]:
    with Twin.open(store) as t:
        return t.commit_count(), t.count(PARCELS.name), t.fsck()


@pytest.fixture(scope="module")
def big_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("operator") / "parcels.gpkg"
    geoms, props = parcels(N)
    write_gpkg(path, geoms, props)
    return path


@pytest.fixture
def empty_twin(tmp_path: Path) -> Path:
    store = tmp_path / "twin.gpkg"
    Twin.create(str(store), [PARCELS], AREA_OF_INTEREST).close()
    return store


# ---------------------------------------------------------------------- a stop during a write
@pytest.mark.parametrize(
    ("sig", "when"),
    [
        (signal.SIGTERM, "in_transaction"),
        (signal.SIGTERM, "wal_growing"),
        (signal.SIGINT, "in_transaction"),
        (signal.SIGKILL, "wal_growing"),
    ],
    ids=lambda v: v.name if isinstance(v, signal.Signals) else v,
)
def test_an_import_stopped_while_it_writes_leaves_the_twin_whole_and_says_so(
    big_file: Path, empty_twin: Path, sig: signal.Signals, when: str
) -> None:
    """systemd stops a job with SIGTERM (SIGKILL after its timeout); Ctrl-C is SIGINT. The import
    died on SIGTERM without a word, and on Ctrl-C typer's quiet 130 hid that the commit had been
    written after all (the interrupt waited for SQLite): now it says which it was, exits 128 + the
    signal, and the twin is whole either way (all of the import or none of it), fsck is clean, and
    the next import runs with no clean-up."""
    proc = _import_process(big_file, empty_twin, text=True)

    def under_way() -> None:
        if when == "in_transaction":  # the commit's rows being written, in SQLite's cache yet
            _wait(lambda: _write_lock_held(empty_twin), "write transaction", proc)  # type: ignore[arg-type]
        else:  # the commit's pages going to the -wal (SQLite's COMMIT)
            _wait(lambda: _wal_size(empty_twin) > 500_000, "write under way (the -wal growing)", proc)  # type: ignore[arg-type]

    out, err = _stop_when(proc, under_way, sig)
    commits, count, problems = _state(empty_twin)
    assert problems == [] and (commits, count) in ((0, 0), (1, N)), (commits, count, problems)
    if sig == signal.SIGKILL:
        assert proc.returncode == -signal.SIGKILL
    else:
        assert proc.returncode == 128 + sig, (proc.returncode, out, err)
        assert "Traceback" not in err, err
        said = err.strip().splitlines()[-1]
        if count:
            assert f"error: stopped by {sig.name} after the import's commit" in said, said
        else:
            assert f"error: stopped by {sig.name} before the import was committed: nothing was committed" in said, said
    if sig == signal.SIGKILL:
        # the next import needs no clean-up of what a killed one left (its -wal): SQLite's own
        # (a stop the command line catches leaves nothing behind it: its transaction rolled back)
        again = _cli("import", str(big_file), "--layer", PARCELS.name, "--store", str(empty_twin))
        assert again.returncode == 0, again.stderr
        assert ("nothing to commit" if count else "committed") in again.stdout, again.stdout
        assert _state(empty_twin)[1:] == (N, [])


def _children(pid: int) -> list[int]:
    """The processes whose parent is `pid` (read off /proc)."""
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                stat = (entry / "stat").read_text()
            except OSError:  # ended meanwhile
                continue
            if int(stat.rsplit(")", 1)[1].split()[1]) == pid:
                found.append(int(entry.name))
    return found


def test_an_import_killed_while_its_second_process_encodes_leaves_no_process_behind(
    big_file: Path, empty_twin: Path
) -> None:
    """An import encodes in a forked child (twin.encode_worker). Killed with SIGKILL (the OOM killer,
    systemd after its timeout), it left that child blocked forever on a full pipe, holding copies of
    the command's stdout and stderr (a caller reading them waited for ever) and, on PostGIS, the
    killed transaction's connection (the next import waited on its lock). The child now dies with
    its parent: the caller's pipes reach their end, the twin is as it was, the next import runs."""
    proc = _import_process(big_file, empty_twin, text=True)
    children: list[int] = []

    def encoding() -> None:
        _wait(lambda: bool(children.extend(_children(proc.pid)) or children), "the encoding child", proc)  # type: ignore[arg-type, func-returns-value]

    _stop_when(proc, encoding, signal.SIGKILL)  # communicate(): the pipes reached their end
    assert proc.returncode == -signal.SIGKILL
    _wait(lambda: not any(Path(f"/proc/{c}").exists() and "Z" not in _state_of(c) for c in children),
          "end of the encoding child after its parent was killed", timeout=STOP)  # fmt: skip
    commits, count, problems = _state(empty_twin)
    assert problems == [] and (commits, count) in ((0, 0), (1, N)), (commits, count, problems)
    again = _cli("import", str(big_file), "--layer", PARCELS.name, "--store", str(empty_twin))
    assert again.returncode == 0, again.stderr


def _state_of(pid: int) -> str:
    """A process's state letter (Z: ended, not yet reaped), "" once it is gone."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return ""


def test_an_import_stopped_before_it_writes_commits_nothing(big_file: Path, empty_twin: Path) -> None:
    """SIGTERM while the file is read and checked (the note on its extra column is printed then):
    the import stops there, says nothing was committed, exit 143."""
    proc = _import_process(big_file, empty_twin, text=False)

    def reading() -> None:
        assert proc.stderr is not None
        line = proc.stderr.readline()  # the note, printed once the file is read, before validation
        assert b"not imported: survey_note" in line, line

    out, err = _stop_when(proc, reading, signal.SIGTERM)
    commits, count, problems = _state(empty_twin)
    assert proc.returncode == 143, (proc.returncode, out, err)
    text = err.decode()
    assert "Traceback" not in text, text
    if commits == 0:  # the write may yet have begun and ended before Python saw the signal
        assert "nothing was committed, the twin is as it was" in text, text
    assert problems == [] and (commits, count) in ((0, 0), (1, N))


@pytest.mark.parametrize(
    ("command", "sig", "when"),
    [("commit", signal.SIGTERM, "after"), ("revert", signal.SIGINT, "before")],
    ids=["commit-SIGTERM-after", "revert-SIGINT-before"],
)
def test_commit_and_revert_stopped_say_whether_their_commit_was_written(
    empty_twin: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, command: str, sig: signal.Signals, when: str
) -> None:
    """`commit` and `revert` stopped by a signal said only "written whole or not at all; `venue-twin
    log` shows which"; they now say which, as `import` does. In this process (cheap): the signal is
    real, sent from within the twin's commit before or after the write, where the command line's
    handler raises it as the stop; the moment is the test's choice, not a race."""
    from typer.testing import CliRunner

    from cli.main import app

    change = tmp_path / "change.geojson"
    square = [[121.29, 31.19], [121.2901, 31.19], [121.2901, 31.1901], [121.29, 31.1901], [121.29, 31.19]]
    feature = {"type": "Feature", "id": "p-1", "twin:layer": PARCELS.name, "twin:op": "add",
               "geometry": {"type": "Polygon", "coordinates": [square]}, "properties": {"code": "P-1"}}  # fmt: skip
    change.write_bytes(orjson.dumps({"type": "FeatureCollection", "features": [feature]}))
    runner = CliRunner()
    args = ["--store", str(empty_twin), "--author", "Li Wei <venue office>"]
    if command == "revert":
        first = runner.invoke(app, ["commit", str(change), *args])
        assert first.exit_code == 0, first.output
    real = Twin.commit

    def stopped(self: Twin, *a: Any, **kw: Any) -> Any:
        if when == "before":
            os.kill(os.getpid(), sig)
        info = real(self, *a, **kw)
        os.kill(os.getpid(), sig)
        return info

    monkeypatch.setattr(Twin, "commit", stopped)
    r = runner.invoke(app, [command, *([str(change)] if command == "commit" else ["HEAD"]), *args])
    assert r.exit_code == 128 + sig, (r.exit_code, r.output)
    with Twin.open(empty_twin) as t:
        head, commits = t.head(), t.commit_count()
    said = r.output.strip().splitlines()[-1]
    what = {"commit": "the change file", "revert": "the revert"}[command]
    if when == "after":
        assert head is not None and commits == 1
        assert f"error: stopped by {sig.name} after {what}'s commit {head.id[:12]} was written whole" in said, said
    else:
        assert commits == 1  # the commit reverted, and nothing else
        assert f"error: stopped by {sig.name} before {what} was committed: nothing was committed" in said, said


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class _Served:
    """`venue-twin serve` in a child (optionally as another user), its output in a file."""

    def __init__(self, store: Path, log: Path, *, user: list[str] | None = None, workers: int = 1, **env: str):
        self.port = _free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log = log
        self._out = open(log, "wb")  # noqa: SIM115 - closed in stop()
        cmd = [*(user or []), PYTHON, "-m", "cli.main", "serve", "--store", str(store), "--port", str(self.port)]
        self.proc = subprocess.Popen(
            [*cmd, "--workers", str(workers)], env=_env(**env), cwd=CODE, stdout=self._out, stderr=subprocess.STDOUT
        )

        # One client for the polls (every 5 ms): httpx.get makes a client, and its TLS context, each
        # time, 20 ms of CPU a poll, which took most of a core from the server starting beside it.
        http = httpx.Client(timeout=HTTP)

        def up() -> bool:
            try:
                return http.get(self.url + "/health").status_code == 200
            except httpx.HTTPError:
                return False

        try:
            _wait(up, "answer from the server", self.proc, SERVER_START)  # type: ignore[arg-type]
        except AssertionError:
            self.stop()
            raise AssertionError(log.read_text()) from None
        finally:
            http.close()

    def stop(self) -> int:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(STOP)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self._out.close()
        return self.proc.returncode


def _token(store: Path, role: str = "editor") -> str:
    with Twin.open(store) as t:
        return t.tokens.create(f"op.{role}", role)


@pytest.mark.parametrize("workers", [1, 2])
def test_serve_stopped_during_a_large_commit_answers_it_and_exits_cleanly(
    empty_twin: Path, tmp_path: Path, workers: int
) -> None:
    """SIGTERM to `venue-twin serve` (one worker or two) while a POST of 20,000 features is being
    committed: uvicorn's graceful shutdown lets the request finish (201), the process ends cleanly
    as systemd expects of a stopped service, and the twin holds the commit whole, fsck clean. (It
    did already; kept as a check of `serve`'s signal handling, which the command line's changes.)"""
    geoms, props = parcels(20_000, seed=3)
    body = orjson.dumps(
        {
            "type": "FeatureCollection",
            "features": [
                {
                    "type": "Feature",
                    "id": props["code"][i],
                    "geometry": orjson.loads(shapely.to_geojson(g)),
                    "properties": {"code": props["code"][i], "kind": props["kind"][i], "area_m2": props["area_m2"][i]},
                }
                for i, g in enumerate(geoms)
            ],
        }
    )
    token = _token(empty_twin)
    server = _Served(empty_twin, tmp_path / "serve.log", workers=workers, VENUE_TWIN_MAX_BODY_BYTES=str(64 << 20))
    answers: list[httpx.Response | BaseException] = []

    def post() -> None:
        try:
            answers.append(
                httpx.post(
                    f"{server.url}/collections/{PARCELS.name}/items",
                    content=body,
                    headers={"Authorization": f"Bearer {token}", "Content-Type": "application/geo+json"},
                    timeout=HTTP,
                )
            )
        except BaseException as e:  # noqa: BLE001 - reported below
            answers.append(e)

    import threading

    thread = threading.Thread(target=post)
    thread.start()
    try:
        _wait(lambda: bool(answers) or _write_lock_held(empty_twin), "write transaction")
        server.proc.send_signal(signal.SIGTERM)
        thread.join(HTTP)
        code = server.proc.wait(STOP)
    finally:
        server.stop()
    assert answers and isinstance(answers[0], httpx.Response), answers
    assert answers[0].status_code == 201, answers[0].text[:500]
    # one worker: uvicorn ends by the signal it got, as systemd expects; several: their supervisor exits 0
    assert code == (-signal.SIGTERM if workers == 1 else 0), (code, server.log.read_text()[-2000:])
    assert "Traceback" not in server.log.read_text()
    assert _state(empty_twin) == (1, 20_000, [])


# ---------------------------------------------------------------------- a read-only twin
def _as_nobody() -> list[str]:
    setpriv = shutil.which("setpriv")
    if setpriv is None or os.geteuid() != 0:
        pytest.skip("needs root and setpriv to run a child as nobody (as root, file permissions do not bite)")
    cmd = [setpriv, "--reuid=nobody", "--regid=nogroup", "--clear-groups"]
    probe = subprocess.run([*cmd, PYTHON, "-c", f"import os; os.listdir({str(CODE)!r})"], capture_output=True)
    if probe.returncode != 0:
        pytest.skip(f"nobody cannot run this Python or read {CODE}: {probe.stderr.decode()[-200:]}")
    return cmd


@pytest.fixture
def root_owned_dir() -> Iterator[Path]:
    """A directory nobody may enter but not write (pytest's tmp_path is root's alone, mode 700)."""
    d = Path(tempfile.mkdtemp(prefix="venue-twin-ro-"))
    d.chmod(0o755)
    try:
        yield d
    finally:
        shutil.rmtree(d, ignore_errors=True)


@pytest.fixture(params=["file", "directory"])
def read_only_twin(request: pytest.FixtureRequest, root_owned_dir: Path, tmp_path: Path) -> Path:
    """The twin at rest (no -wal), owned by root, mode 644: for nobody, the file is read-only, and
    with "directory" its directory too (where SQLite would put the -wal and -shm), as on a
    read-only mount; with "file" the directory is writable."""
    from api_server import build_venue

    src = tmp_path / "venue.gpkg"
    build_venue(src)
    store = root_owned_dir / "venue.gpkg"
    shutil.copyfile(src, store)
    store.chmod(0o644)
    if request.param == "file":
        root_owned_dir.chmod(0o777)
    return store


def test_a_twin_this_user_cannot_write_is_served_for_reading_and_edits_answer_503(
    read_only_twin: Path, tmp_path: Path
) -> None:
    """`serve` as a user who may not write the twin: it refused to start ("... is not a venue
    twin: attempt to write a readonly database") when the directory was not writable, and
    answered edits 500 when only the file was not. It serves reads, says so when it starts, and
    answers an edit 503 naming the file and why."""
    nobody = _as_nobody()
    token = _token(read_only_twin)
    with Twin.open(read_only_twin) as t:
        head = t.head()
    assert head is not None
    server = _Served(read_only_twin, tmp_path / "serve.log", user=nobody)  # the log is written by this process
    try:
        items = httpx.get(f"{server.url}/collections/halls/items?limit=5", timeout=HTTP)
        assert items.status_code == 200 and items.json()["features"], items.text[:300]
        feature = items.json()["features"][0]
        patch = httpx.patch(
            f"{server.url}/collections/halls/items/{feature['id']}",
            json={"properties": {"name_en": "renamed"}},
            headers={"Authorization": f"Bearer {token}", "Content-Type": "application/merge-patch+json"},
            timeout=HTTP,
        )
        assert patch.status_code == 503, (patch.status_code, patch.text[:500])
        detail = patch.json()["detail"]
        assert str(read_only_twin) in detail and "read-only" in detail and "nobody" in detail, detail
        assert httpx.get(f"{server.url}/health", timeout=HTTP).status_code == 200
    finally:
        server.stop()
        log = server.log.read_text()
    assert "is read-only here" in log and "edits answer 503" in log, log
    assert "Traceback" not in log, log
    with Twin.open(read_only_twin) as t:
        assert t.head() == head


def test_write_commands_on_a_twin_this_user_cannot_write_exit_2_naming_it(read_only_twin: Path) -> None:
    """The command line as that user: reads and fsck work, a write says why it cannot (exit 2)."""
    nobody = _as_nobody()
    store = str(read_only_twin)
    for args in (("log", "--store", store), ("fsck", "--store", store)):
        r = _cli(*args, user=nobody)
        assert r.returncode == 0, (args, r.stderr)
    for args in (("revert", "HEAD", "--store", store), ("token", "create", "--name", "x", "--store", store)):
        r = _cli(*args, user=nobody)
        assert r.returncode == 2, (args, r.returncode, r.stdout, r.stderr)
        assert "read-only here" in r.stderr and store in r.stderr and "Traceback" not in r.stderr, r.stderr
