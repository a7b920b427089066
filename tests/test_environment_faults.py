"""Faults of the machine, not of the data: a read-only data directory, a full disk, a killed build, too little
memory. Each is one line on stderr naming the path and what to do, exit 2, and every earlier good result (the
published warehouse and its bill, landed raw partitions, state files) stays as it was.

A read-only directory cannot be simulated with chmod as root: these tests bind-mount a directory read-only.
A full disk is a small tmpfs. Both need `mount` (root, as CI runs); without it they skip and say why.
"""

from __future__ import annotations

import errno
import hashlib
import shutil
import signal
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import duckdb
import pyarrow as pa
import pytest

from chargeback.build.demo import SAMPLE_PERIOD
from chargeback.build.engines import build
from chargeback.build.warehouse import build_lock
from chargeback.core import config as config_module
from chargeback.core.errors import ChargebackError, StorageError, storage_error
from chargeback.core.locks import LockedError
from chargeback.raw.landing import DayWriter, land, partition_path, write_partition
from chargeback.raw.status import StateStore
from chargeback.raw.tables import NODE_HOURS
from chargeback.reports.bill import monthly_bill
from chargeback.scheduler.state import ScheduleState

ROOT = Path(__file__).resolve().parents[1]
SAMPLE_CUR = ROOT / "sample_data" / "cur_export" / "chargeback-cur2"
SAMPLE_CONFIG = ROOT / "sample_data" / "chargeback.toml"  # builds with it reproduce the demo's bill
WORK_FILES = ".warehouse.*.building.duckdb*"
NO_SPACE = "no space left on device"


def chargeback(*args: str, cwd: Path) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "chargeback", *args], cwd=cwd, capture_output=True, text=True, timeout=300
    )


def one_line_error(result: subprocess.CompletedProcess) -> str:
    """The single ``error:`` line of a command that failed with exit 2 (no traceback, nothing else)."""
    lines = result.stderr.strip().splitlines()
    assert result.returncode == 2 and len(lines) == 1 and lines[0].startswith("error: "), result.stderr
    return lines[0]


def sample_config(data_dir: Path) -> config_module.Config:
    """The sample month's configuration (what `chargeback demo` built with) over ``data_dir``."""
    return config_module.load(SAMPLE_CONFIG, data_dir)


def bill_json(data_dir: Path) -> str:
    """The published bill of the sample month, as `chargeback bill --format json` prints it."""
    return monthly_bill(sample_config(data_dir), SAMPLE_PERIOD).to_json()


def contents(directory: Path) -> dict[str, str]:
    """Every file under ``directory`` (hidden ones included; not the build lock, which says who last held it)
    and a hash of its bytes."""
    return {
        str(p.relative_to(directory)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(directory.rglob("*"))
        if p.is_file() and p.name != ".build.lock"
    }


# --- mounts ---------------------------------------------------------------------------------------------


def _mount(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(["mount", *args], capture_output=True, text=True)


def _unmount(target: Path) -> None:
    if subprocess.run(["umount", str(target)], capture_output=True).returncode != 0:
        subprocess.run(["umount", "-l", str(target)], capture_output=True)


@pytest.fixture(scope="module")
def mounts(tmp_path_factory) -> Iterator[list[Path]]:
    """Mount points made by the tests (unmounted at the end); skips the test when mounting is not permitted."""
    probe = tmp_path_factory.mktemp("probe")
    if shutil.which("mount") is None or _mount("-t", "tmpfs", "-o", "size=64k", "tmpfs", str(probe)).returncode:
        pytest.skip("mount is not permitted here (needs root with CAP_SYS_ADMIN, as CI runs)")
    _unmount(probe)
    made: list[Path] = []
    yield made
    for target in reversed(made):
        _unmount(target)


def read_only_view(source: Path, target: Path, mounts: list[Path]) -> Path:
    """``source`` seen read-only at ``target`` (a read-only bind mount)."""
    target.mkdir(parents=True)
    for args in (["--bind", str(source), str(target)], ["-o", "remount,bind,ro", str(target)]):
        result = _mount(*args)
        if result.returncode:
            pytest.skip(f"a read-only bind mount is not permitted here: {result.stderr.strip()}")
        if args[0] == "--bind":
            mounts.append(target)
    return target


def small_disk(target: Path, size: str, mounts: list[Path]) -> Path:
    """A tmpfs of ``size`` (as mount takes it: 256k, 4m) at ``target``."""
    target.mkdir(parents=True)
    result = _mount("-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(target))
    if result.returncode:
        pytest.skip(f"a tmpfs mount is not permitted here: {result.stderr.strip()}")
    mounts.append(target)
    return target


def fill(disk: Path, leave_bytes: int) -> Path:
    """A file taking all of ``disk``'s free space but ``leave_bytes``."""
    filler = disk / "filler"
    filler.unlink(missing_ok=True)
    free = shutil.disk_usage(disk).free
    subprocess.run(["fallocate", "-l", str(max(free - leave_bytes, 0)), str(filler)], check=True)
    return filler


@pytest.fixture(scope="module")
def demo(built_sample) -> Path:
    """The sample month built once per test process; each test works on its own copy."""
    return built_sample


# --- a read-only data directory ---------------------------------------------------------------------------


def test_a_read_only_data_directory_is_one_line_for_every_command_that_writes(demo, tmp_path, mounts):
    """build, demo, schedule --once, export and close: exit 2 with one line naming the path under the
    read-only mount and what to do; nothing in the directory changes, and bill and check still read it."""
    source = tmp_path / "source"
    shutil.copytree(demo, source)
    before, bill = contents(source), bill_json(source)
    ro = read_only_view(source, tmp_path / "ro", mounts)
    for args in (
        ["build", "--full", "--config", str(SAMPLE_CONFIG)],
        ["demo", "--no-dashboard"],
        ["schedule", "--once"],
        ["export", "--to", "finance", "--period", SAMPLE_PERIOD],
        ["close", "--period", SAMPLE_PERIOD],
    ):
        line = one_line_error(chargeback(*args, "--data-dir", str(ro), cwd=tmp_path))
        assert str(ro) in line, (args, line)
        assert "read-only file system" in line.lower(), (args, line)
        if args[0] != "export":  # export's own message names the directory it could not create
            assert "mount it read-write, or point --data-dir at a writable directory" in line, (args, line)
    assert contents(source) == before
    assert bill_json(ro) == bill  # reading a read-only directory is fine
    assert chargeback("check", "--data-dir", str(ro), cwd=tmp_path).returncode == 0


# --- a full disk ----------------------------------------------------------------------------------------------


def test_a_full_disk_during_an_incremental_build_is_one_line_and_leaves_the_published_bill(demo, tmp_path, mounts):
    """Twice: with 1 MiB free, and with room for a warehouse the size of the published one but not for every
    model: the build's write fails (into the new warehouse file or a model's Parquet in the build's folder,
    whichever fills the disk first)."""
    disk = small_disk(tmp_path / "disk", "64m", mounts)
    data_dir = disk / "data"
    shutil.copytree(demo, data_dir)
    before, bill = contents(data_dir), bill_json(data_dir)
    published = data_dir / "warehouse.duckdb"
    for leave in (1 << 20, published.stat().st_size + (2 << 20)):
        filler = fill(disk, leave)
        line = one_line_error(
            chargeback("build", "--config", str(SAMPLE_CONFIG), "--data-dir", str(data_dir), cwd=tmp_path)
        )
        work_file = f"{data_dir.name}/.warehouse." in line and ".building.duckdb" in line
        assert work_file or f"{data_dir.name}/builds/" in line and ".parquet" in line, line
        assert f"{NO_SPACE} ({published} is unchanged); free space on its file system" in line
        assert not list(data_dir.glob(WORK_FILES)) and not (data_dir / ".tmp").exists()
        filler.unlink()
        assert contents(data_dir) == before
        assert bill_json(data_dir) == bill
    build(sample_config(data_dir))  # room again: it builds, the same bill
    assert bill_json(data_dir) == bill


def test_collecting_onto_a_full_or_read_only_disk_is_one_line_and_keeps_what_was_landed(tmp_path, mounts):
    """The CUR of the sample month landed once; landing it again (--refresh) onto a full disk, then onto the same
    directory mounted read-only, fails naming the partition, and leaves the landed partition and state as they
    were (no temporary file either)."""
    disk = small_disk(tmp_path / "disk", "4m", mounts)
    config = tmp_path / "chargeback.toml"
    config.write_text(f'data_dir = "{disk}/data"\n[cur]\nlocation = "{SAMPLE_CUR}"\n')
    window = ["--source", "cur", "--start", "2026-10-01", "--end", "2026-11-01", "--config", str(config)]
    assert chargeback("collect", *window, cwd=tmp_path).returncode == 0
    landed = contents(disk / "data")
    partition = Path("raw") / "cur" / "line_items" / "billing_period=2026-10" / "data.parquet"
    assert str(partition) in landed and "state/collect.json" in landed
    filler = fill(disk, 16 << 10)  # 16 KiB: less than the CUR partition (about 60 KB)
    line = one_line_error(chargeback("collect", *window, "--refresh", cwd=tmp_path))
    assert line.startswith(f"error: {disk / 'data' / partition}: {NO_SPACE}; free space"), line
    assert contents(disk / "data") == landed
    filler.unlink()
    ro = read_only_view(disk / "data", tmp_path / "ro", mounts)
    line = one_line_error(chargeback("collect", *window, "--refresh", "--data-dir", str(ro), cwd=tmp_path))
    assert line.startswith(f"error: {ro / partition}: read-only file system; chargeback writes"), line
    assert contents(disk / "data") == landed


def node_hours(rows: int) -> pa.Table:
    """``rows`` node-hours of 2026-10-01 with random (incompressible) node names."""
    return NODE_HOURS.conform(
        pa.Table.from_pylist(
            [
                {"cluster": "c", "node": uuid.uuid4().hex, "hour": datetime(2026, 10, 1, i % 24, tzinfo=UTC),
                 "running_seconds": 3600.0}
                for i in range(rows)
            ]
        ),
        "test",
    )  # fmt: skip


def test_landing_onto_a_full_disk_names_the_partition_and_leaves_no_temporary_file(tmp_path, mounts):
    """Arrow's write error names no file: landing names the partition it was writing. Both ways of landing (a
    day of several tables, one whole partition) keep the partition landed before and leave no temporary file."""
    disk = small_disk(tmp_path / "disk", "256k", mounts)  # 20 batches of 2,000 random names take more
    land(disk, NODE_HOURS, node_hours(10))
    landed = contents(disk)
    target = partition_path(disk, NODE_HOURS, "2026-10-01")
    batch = node_hours(2000)

    def day_writer() -> None:
        with DayWriter(disk, "2026-10-01", [NODE_HOURS], "test") as writer:
            for _ in range(20):
                writer.write(NODE_HOURS, batch)
            writer.commit()

    def whole_partition() -> None:
        write_partition(disk, NODE_HOURS, "2026-10-01", [batch] * 20)

    for write in (day_writer, whole_partition):
        with pytest.raises(OSError) as failed:
            write()
        assert (failed.value.errno, failed.value.filename) == (errno.ENOSPC, str(target)), write.__name__
        assert str(storage_error(failed.value)).startswith(f"{target}: {NO_SPACE}; free space")
        assert contents(disk) == landed, write.__name__


def test_state_files_stay_whole_on_a_full_disk(tmp_path, mounts):
    """The collection and scheduler state files are replaced atomically: a save that fails keeps the last one,
    and leaves no partial temporary file beside it."""
    disk = small_disk(tmp_path / "disk", "64k", mounts)
    collect = StateStore(disk)
    collect.get("cur", "-").complete_through = "2026-10-01T00:00:00Z"
    collect.save()
    schedule = ScheduleState(disk / "state" / "schedule.json")
    schedule.job("build").last_outcome = "ok"
    schedule.save()
    saved = contents(disk)
    fill(disk, 0)
    collect.get("cur", "-").complete_through = "2026-11-01T00:00:00Z"
    schedule.job("build").last_outcome = "failed"
    for store in (collect, schedule):
        with pytest.raises(OSError) as failed:
            store.save()
        assert failed.value.errno == errno.ENOSPC
    (disk / "filler").unlink()
    assert contents(disk) == saved
    assert StateStore(disk).get("cur", "-").complete_through == "2026-10-01T00:00:00Z"


# --- builds that died ---------------------------------------------------------------------------------------


def test_a_build_removes_the_work_files_of_a_killed_build(demo, tmp_path):
    """A build killed with SIGKILL leaves its work file and write-ahead log; one killed while spilling also
    leaves DuckDB's spill files in <data_dir>/.tmp (named as DuckDB names them: seen in a build killed under
    memory_limit = "60MB"). The next build, holding the lock, deletes them and publishes the same bill."""
    data_dir = tmp_path / "data"
    shutil.copytree(demo, data_dir)
    bill = bill_json(data_dir)
    command = ["build", "--full", "--config", str(SAMPLE_CONFIG), "--data-dir", str(data_dir)]
    process = subprocess.Popen(
        [sys.executable, "-m", "chargeback", *command],
        cwd=tmp_path,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    deadline = time.monotonic() + 60
    while not list(data_dir.glob(WORK_FILES + ".wal")) and time.monotonic() < deadline and process.poll() is None:
        time.sleep(0.005)
    process.send_signal(signal.SIGKILL)
    process.wait()
    assert process.returncode == -signal.SIGKILL, "killed before it finished"
    left = sorted(p.name for p in data_dir.glob(WORK_FILES))
    assert len(left) == 2 and left[1] == left[0] + ".wal", left
    spill = data_dir / ".tmp"
    spill.mkdir(exist_ok=True)
    (spill / "duckdb_temp_1718_0_owner").touch()
    (spill / "duckdb_temp_1718_0_storage_S96K-0.tmp").write_bytes(b"\0" * 98304)
    build(sample_config(data_dir))
    assert not list(data_dir.glob(WORK_FILES)) and not spill.exists()
    assert bill_json(data_dir) == bill


def test_work_files_of_a_running_build_are_left_alone(demo, tmp_path):
    """Only a build holding the lock cleans up: one that cannot take it (another is running) touches nothing."""
    data_dir = tmp_path / "data"
    shutil.copytree(demo, data_dir)
    running = data_dir / ".warehouse.0123456789abcdef.building.duckdb"
    running.write_bytes(b"a running build's work")
    held, release = threading.Event(), threading.Event()

    def hold() -> None:
        with build_lock(data_dir):
            held.set()
            release.wait(30)

    holder = threading.Thread(target=hold)
    holder.start()
    try:
        assert held.wait(30)
        with pytest.raises(LockedError):
            build(sample_config(data_dir))
        assert running.read_bytes() == b"a running build's work"
    finally:
        release.set()
        holder.join()


# --- too little memory ----------------------------------------------------------------------------------------


def test_a_build_out_of_memory_is_one_line_naming_the_setting(demo, tmp_path):
    """DuckDB's own message is several lines ("Possible solutions: ..."); the build says which setting to change."""
    data_dir = tmp_path / "data"
    shutil.copytree(demo, data_dir)
    bill = bill_json(data_dir)
    config = sample_config(data_dir)
    starved = config.model_copy(update={"build": config.build.model_copy(update={"memory_limit": "1MB", "threads": 1})})
    with pytest.raises(
        ChargebackError, match=r"ran out of memory under \[build\] memory_limit = '1MB' .*: raise it"
    ) as failed:
        build(starved, full=True)
    assert "\n" not in str(failed.value)
    assert bill_json(data_dir) == bill


# --- how faults are recognised ----------------------------------------------------------------------------------


def test_os_and_duckdb_faults_become_one_line_naming_the_path():
    rename = OSError(errno.ENOSPC, "No space left on device", "data/warehouse.duckdb", None, "data/.new")
    assert str(storage_error(rename)).startswith("data/.new: no space left on device; free space")
    lock = OSError(errno.EROFS, "Read-only file system", "/srv/data/.build.lock")
    assert str(storage_error(lock)).startswith("/srv/data/.build.lock: read-only file system; chargeback writes")
    wal = duckdb.TransactionException(
        'TransactionContext Error: Failed to commit: Could not write file "/srv/data/.w.duckdb.wal": No space left'
        " on device"
    )
    fault = storage_error(wal)
    assert isinstance(fault, StorageError) and fault.path == "/srv/data/.w.duckdb.wal" and fault.errno == errno.ENOSPC
    opened = duckdb.IOException('IO Error: Cannot open file "/srv/ro/new.duckdb": Read-only file system')
    assert storage_error(opened).path == "/srv/ro/new.duckdb"
    for other in (ValueError("no space here"), duckdb.BinderException("column x not found"), OSError("socket")):
        assert storage_error(other) is None, other  # not the machine's fault: a bug keeps its traceback
    # a model's query spilling to disk (DuckDB's temporary files under <data_dir>/.tmp) names the model too
    spill = duckdb.IOException('IO Error: Could not write file "/srv/data/.tmp/t_7.tmp": No space left on device')
    assert str(storage_error(spill).building("marts.fct_rightsizing").keeping("nothing published")).startswith(
        "building marts.fct_rightsizing: /srv/data/.tmp/t_7.tmp: no space left on device (nothing published);"
        " free space"
    )
