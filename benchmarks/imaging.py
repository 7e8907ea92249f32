"""DICOM intake benchmark (issue 4): ``make bench-imaging`` (root: runs inside ``unshare --net``, loopback only).

One run, same sender (DCMTK storescu, TCP_NODELAY=1), 300 CT instances of 512×512×16 bit, three rounds per
receiver, medians:
  ours      ``tumorboard imaging listen`` — temp file, fsync, rename, index row committed (SQLite), matching
  minimal   a pynetdicom SCP that only writes the received bytes
  storescp  DCMTK storescp
  orthanc   Orthanc (Debian package), whitelisted sender, default fsync
  durable   the floor of the durability rule on pynetdicom: received in chunks like ours, then fsync, rename,
            folder fsync and one committed SQLite row, nothing else
Then a cProfile of our C-STORE handler over one extra round, and the listener's peak RSS (VmHWM) while it
receives a 1 GB study (2,000 such instances).

``--load`` (issue 16, what ``make bench-imaging`` runs): several partners at once, same sender, medians of
``--rounds`` rounds, ``uptime`` printed with every round (the machine may be shared):
  four     four concurrent associations × 100 CT instances (four studies) into ours and into Orthanc: ours must
           acknowledge all 400 and reach ≥ 0.8× Orthanc's instances/s
  one      one association × ``--count`` instances into ours and into the durable floor: ours ≥ 0.9× the floor
  ten      ten concurrent associations × 50 instances into ours: all acknowledged, listener peak RSS < 300 MB

``--syscalls`` instead runs each receiver once under ``strace -f -c`` and prints, per received instance, the
calls that make data durable or move it (fsync family, renames, file creations): what each receiver promises
the disk before it answers. strace slows every receiver down, so that mode reports no times.
"""

from __future__ import annotations

import argparse
import collections
import cProfile
import datetime as dt
import io
import json
import os
import platform
import pstats
import re
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import numpy as np
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.uid import CTImageStorage, ExplicitVRLittleEndian, generate_uid

CHECKOUT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(CHECKOUT))
ENV = {**os.environ, "TCP_NODELAY": "1"}
SENDER = "BENCHSCU"
PORTS = {"ours": 11112, "minimal": 11113, "storescp": 11114, "orthanc": 4242, "durable": 11115}
AETS = {
    "ours": "TUMORBOARD",
    "minimal": "MINIMAL",
    "storescp": "STORESCP",
    "orthanc": "TBORTHANC",
    "durable": "DURABLE",
}

MINIMAL_SCP = r"""
import itertools, os, sys
from pynetdicom import AE, evt, AllStoragePresentationContexts
from pynetdicom.sop_class import Verification
out = sys.argv[1]; counter = itertools.count()
def store(event):
    with open(os.path.join(out, f"{next(counter)}.dcm"), "wb") as fh:
        fh.write(event.encoded_dataset())
    return 0x0000
ae = AE(ae_title="MINIMAL")
ae.supported_contexts = AllStoragePresentationContexts
ae.add_supported_context(Verification)
ae.maximum_pdu_size = 0
ae.start_server(("127.0.0.1", int(sys.argv[2])), evt_handlers=[(evt.EVT_C_STORE, store)])
"""

#: The floor for any pynetdicom listener that keeps issue 4's durability rule: received in chunks to disk like ours,
#: then only fsync, rename, folder fsync and one committed SQLite row (WAL, synchronous=FULL) before success —
#: no parsing, hashing, matching or real index. What ours costs beyond this is our own code.
DURABLE_SCP = r"""
import itertools, os, sqlite3, sys, tempfile
from pynetdicom import AE, _config, evt, AllStoragePresentationContexts
from pynetdicom.sop_class import Verification
out = sys.argv[1]; counter = itertools.count()
os.makedirs(os.path.join(out, "incoming")); os.makedirs(os.path.join(out, "objects"))
tempfile.tempdir = os.path.join(out, "incoming")
_config.STORE_RECV_CHUNKED_DATASET = True
db = sqlite3.connect(os.path.join(out, "index.sqlite"), isolation_level=None, check_same_thread=False)
db.execute("PRAGMA journal_mode=WAL"); db.execute("PRAGMA synchronous=FULL")
db.execute("CREATE TABLE instance (id INTEGER PRIMARY KEY, sop TEXT, path TEXT)")
def store(event):
    temp = event.dataset_path
    fd = os.open(temp, os.O_RDONLY); os.fsync(fd); os.close(fd)
    target = os.path.join(out, "objects", f"{next(counter)}.dcm")
    os.replace(temp, target)
    fd = os.open(os.path.join(out, "objects"), os.O_RDONLY); os.fsync(fd); os.close(fd)
    db.execute("BEGIN"); db.execute("INSERT INTO instance (sop, path) VALUES (?, ?)",
                                    (str(event.request.AffectedSOPInstanceUID), target)); db.execute("COMMIT")
    return 0x0000
ae = AE(ae_title="DURABLE")
ae.supported_contexts = AllStoragePresentationContexts
ae.add_supported_context(Verification)
ae.maximum_pdu_size = 0
ae.start_server(("127.0.0.1", int(sys.argv[2])), evt_handlers=[(evt.EVT_C_STORE, store)])
"""


def make_study(folder: Path, count: int, size: int = 512) -> list[Path]:
    folder.mkdir(parents=True, exist_ok=True)
    study, series = generate_uid(), generate_uid()
    rng = np.random.default_rng(4)
    base = rng.integers(0, 1500, (size, size), dtype=np.uint16)
    paths = []
    for n in range(count):
        ds = Dataset()
        ds.file_meta = FileMetaDataset()
        ds.file_meta.MediaStorageSOPClassUID = CTImageStorage
        ds.file_meta.MediaStorageSOPInstanceUID = generate_uid()
        ds.file_meta.TransferSyntaxUID = ExplicitVRLittleEndian
        ds.SOPClassUID, ds.SOPInstanceUID = CTImageStorage, ds.file_meta.MediaStorageSOPInstanceUID
        ds.StudyInstanceUID, ds.SeriesInstanceUID = study, series
        ds.PatientName, ds.PatientID, ds.PatientBirthDate = "Benchmark^Bernd", "BENCH-1", "19600101"
        ds.SpecificCharacterSet = "ISO_IR 192"
        ds.Modality, ds.StudyDescription, ds.SeriesDescription = "CT", "Benchmark", "Axial"
        ds.StudyDate, ds.SeriesNumber, ds.InstanceNumber = "20261120", 1, n + 1
        ds.Rows = ds.Columns = size
        ds.BitsAllocated, ds.BitsStored, ds.HighBit, ds.PixelRepresentation = 16, 12, 11, 0
        ds.SamplesPerPixel, ds.PhotometricInterpretation = 1, "MONOCHROME2"
        ds.PixelData = (base + n).tobytes()
        path = folder / f"{n:05d}.dcm"
        ds.save_as(path, enforce_file_format=True)
        paths.append(path)
    return paths


def wait_for(name: str, proc: subprocess.Popen[bytes], timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"{name} exited with {proc.returncode}")
        rc = subprocess.run(
            ["/usr/bin/echoscu", "-aet", SENDER, "-aec", AETS[name], "127.0.0.1", str(PORTS[name])],
            env=ENV,
            capture_output=True,
            check=False,
        ).returncode
        if rc == 0:
            return
        time.sleep(0.2)
    raise RuntimeError(f"{name} did not answer C-ECHO")


def send(name: str, folder: Path) -> float:
    start = time.perf_counter()
    result = subprocess.run(
        ["/usr/bin/storescu", "-aet", SENDER, "-aec", AETS[name], "+sd", "127.0.0.1", str(PORTS[name]), str(folder)],
        env=ENV,
        capture_output=True,
        text=True,
        check=False,
    )
    elapsed = time.perf_counter() - start
    if result.returncode != 0:
        raise RuntimeError(f"storescu to {name} failed: {result.stderr[-500:]}")
    return elapsed


def send_many(name: str, folders: list[Path]) -> tuple[float, int]:
    """One storescu per folder, all at once (one association each); wall time until the last is done, and how
    many instances were acknowledged with Success."""
    start = time.perf_counter()
    senders = [
        subprocess.Popen(
            [
                "/usr/bin/storescu",
                "-v",
                "-aet",
                SENDER,
                "-aec",
                AETS[name],
                "+sd",
                "127.0.0.1",
                str(PORTS[name]),
                str(folder),
            ],
            env=ENV,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        for folder in folders
    ]
    outputs = [sender.communicate()[0] for sender in senders]
    elapsed = time.perf_counter() - start
    return elapsed, sum(output.count("Received Store Response (Success)") for output in outputs)


def cpu_seconds(pid: int) -> float:
    """User + system CPU time so far of a process, its threads and its living child processes (a receiver with
    worker processes counts them all; the CPU of children already reaped is in the parent's cutime/cstime)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except FileNotFoundError:
        return 0.0
    total = sum(int(f) for f in fields[11:15]) / os.sysconf("SC_CLK_TCK")
    for task in Path(f"/proc/{pid}/task").glob("*/children"):
        total += sum(cpu_seconds(int(child)) for child in task.read_text().split())
    return total


def tree_rss_mb(pid: int) -> float:
    """Peak RSS (VmHWM) of a process plus that of its living child processes."""
    total = peak_rss_mb(pid)
    for task in Path(f"/proc/{pid}/task").glob("*/children"):
        total += sum(tree_rss_mb(int(child)) for child in task.read_text().split())
    return total


def tree_pss_mb(pid: int) -> float:
    """Proportional set size (``Pss`` of /proc/<pid>/smaps_rollup: shared pages divided among the processes that
    share them) of a process plus its living child processes, now — not a peak like :func:`tree_rss_mb`."""
    total = 0.0
    try:
        for line in Path(f"/proc/{pid}/smaps_rollup").read_text().splitlines():
            if line.startswith("Pss:"):
                total += int(line.split()[1]) / 1024
    except OSError:
        return 0.0
    for task in Path(f"/proc/{pid}/task").glob("*/children"):
        total += sum(tree_pss_mb(int(child)) for child in task.read_text().split())
    return total


class ThreadCPU:
    """With --spy: CPU time of each thread of ours during a transfer (sampled every 50 ms, as threads end with
    their association), reported per kind of thread (names from py-spy's stacks) in ms per instance."""

    def __init__(self, pid: int | None) -> None:
        self.pid = pid
        self.first: dict[int, float] = {}
        self.last: dict[int, float] = {}
        self.stop = threading.Event()

    def _sample(self) -> None:
        assert self.pid is not None
        for task in Path(f"/proc/{self.pid}/task").iterdir():
            try:
                fields = (task / "stat").read_text().rsplit(")", 1)[1].split()
            except (FileNotFoundError, ProcessLookupError):
                continue
            cpu = (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
            self.first.setdefault(int(task.name), cpu)
            self.last[int(task.name)] = cpu

    def __enter__(self) -> ThreadCPU:
        if self.pid is not None:
            self._sample()

            def run() -> None:
                while not self.stop.wait(0.05):
                    self._sample()

            self.thread = threading.Thread(target=run, daemon=True)
            self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        if self.pid is not None:
            self.stop.set()
            self.thread.join()
            self._sample()

    def report(self, instances: int) -> None:
        time.sleep(1)  # py-spy has seen every thread by now
        names: dict[int, str] = {}
        for raw in Path(SPY[0]).parent.glob(Path(SPY[0]).name + ".*"):
            for line in raw.read_text().splitlines():
                found = re.match(r"thread \((\d+)\): ([^;]+)", line)
                if found:
                    names[int(found[1])] = re.sub(r"[-@_]?\d+", "", found[2]).strip()
        kinds: dict[str, float] = collections.defaultdict(float)
        for tid, cpu in self.last.items():
            kinds[names.get(tid, "?")] += cpu - self.first.get(tid, 0.0)
        ranked = sorted(kinds.items(), key=lambda kv: -kv[1])
        print("    CPU ms/inst by thread: " + ", ".join(f"{k} {v * 1000 / instances:.2f}" for k, v in ranked))


def uptime() -> str:
    return " ".join(Path("/proc/loadavg").read_text().split()[:3])


def load_scenarios(root: Path, rounds: int, count: int, only: list[str], receivers_wanted: list[str]) -> None:
    """Issue 16's three measurements; see the module docstring. ``only``: the scenarios to run; ``receivers_wanted``:
    the receivers to run in them."""
    four = [make_study(root / "four" / f"p{n}", 100) for n in range(4)]
    ten = [make_study(root / "ten" / f"p{n}", 50) for n in range(10)]
    one = make_study(root / "one" / "p0", count)
    scenarios = {
        "four": (["ours", "orthanc"], [f[0].parent for f in four]),
        "one": (["ours", "durable"], [one[0].parent]),
        "ten": (["ours"], [f[0].parent for f in ten]),
    }
    scenarios = {
        k: ([r for r in receivers if r in receivers_wanted], folders)
        for k, (receivers, folders) in scenarios.items()
        if k in only
    }
    results: dict[str, dict[str, list[float]]] = {}
    acknowledged: dict[str, dict[str, list[int]]] = {}
    rss: list[float] = []
    pss: list[float] = []
    for scenario, (receivers, folders) in scenarios.items():
        total = sum(len(list(f.iterdir())) for f in folders)
        results[scenario] = {r: [] for r in receivers}
        acknowledged[scenario] = {r: [] for r in receivers}
        for rnd in range(rounds):
            line = []
            for name in receivers:
                proc = start(name, root / name)
                try:
                    wait_for(name, proc)
                    cpu = cpu_seconds(proc.pid)
                    with ThreadCPU(proc.pid if SPY and name == "ours" else None) as threads:
                        elapsed, ok = send_many(name, folders)
                    cpu = cpu_seconds(proc.pid) - cpu
                    if name == "ours" and scenario == "ten":
                        rss.append(tree_rss_mb(proc.pid))
                        pss.append(tree_pss_mb(proc.pid))
                finally:
                    stop(proc)
                results[scenario][name].append(elapsed)
                acknowledged[scenario][name].append(ok)
                line.append(f"{name} {elapsed:.2f} s ({ok}/{total} acknowledged, {cpu * 1000 / total:.1f} ms CPU/inst)")
                if threads.pid is not None:
                    threads.report(total)
            print(f"{scenario} round {rnd + 1} [load {uptime()}]: " + ", ".join(line), flush=True)
        for name in receivers:
            median = statistics.median(results[scenario][name])
            print(f"  {scenario:<4} {name:<8} median {median:6.2f} s  {total / median:7.1f} inst/s")
    med = {s: {n: statistics.median(t) for n, t in r.items()} for s, r in results.items()}
    print("\nresult:")
    if {"ours", "orthanc"} <= set(med.get("four", {})):
        print(
            f"  four associations × 100: ours / orthanc throughput {med['four']['orthanc'] / med['four']['ours']:.2f} "
            f"(need ≥ 0.80); ours acknowledged {acknowledged['four']['ours']} of 400 per round"
        )
    if {"ours", "durable"} <= set(med.get("one", {})):
        print(f"  one association: ours / durable floor {med['one']['durable'] / med['one']['ours']:.2f} (need ≥ 0.90)")
    if rss:
        print(
            f"  ten associations × 50: ours acknowledged {acknowledged['ten']['ours']} of 500 per round; listener "
            f"peak RSS {max(rss):.0f} MB, all its processes (need < 300); their PSS after the transfer "
            f"{max(pss):.0f} MB (shared pages counted once)"
        )


def prepare_ours(work: Path) -> dict[str, str]:
    from tumorboard.auth.actors import CLI
    from tumorboard.db import make_engine, make_session_factory
    from tumorboard.migrate import upgrade
    from tumorboard.partners.services import add_endpoint, create_partner
    from tumorboard.patients.services import create_patient

    url = f"sqlite:///{work / 'bench.sqlite'}"
    engine = make_engine(url)
    upgrade(engine)
    now = dt.datetime.now(dt.UTC)
    with make_session_factory(engine)() as session:
        partner = create_partner(session, name="Benchmark-Partner", at=now, actor=CLI)
        add_endpoint(session, partner, ae_title=SENDER, address="127.0.0.1", at=now, actor=CLI)
        # A registered patient with the partner's ID, so matching runs its deterministic query for real.
        create_patient(
            session,
            family_name="Benchmark",
            given_name="Bernd",
            birth_date=dt.date(1960, 1, 1),
            sex="M",
            patient_number="KIS-BENCH",
            partner=partner,
            partner_patient_id="BENCH-1",
            at=now,
            actor=CLI,
        )
        session.commit()
    engine.dispose()
    return {
        **ENV,
        "TUMORBOARD_ENV": "development",
        "TUMORBOARD_DATABASE_URL": url,
        "TUMORBOARD_INSTANCE_PATH": str(work),
        "TUMORBOARD_IMAGING_PATH": str(work / "store"),
        "TUMORBOARD_IMAGING_MIN_FREE_MB": "0",
        "TUMORBOARD_DICOM_PORT": str(PORTS["ours"]),
        "TUMORBOARD_LOG_LEVEL": "WARNING",
    }


#: With --spy, the file prefix of py-spy's raw stacks of ours (set in main()).
SPY: list[str] = []
#: With --syscalls, the command prefix that traces a receiver (set in main()).
TRACE: list[str] = []
DURABILITY_CALLS = "fsync,fdatasync,sync_file_range,syncfs,msync,rename,renameat,renameat2,creat"


def _popen(cmd: list[str], work: Path, **kw: object) -> subprocess.Popen[bytes]:
    if TRACE:
        cmd = [*TRACE, "-o", str(work / "strace.txt"), *cmd]
    return subprocess.Popen(cmd, **kw)  # type: ignore[call-overload, no-any-return]


def start(name: str, work: Path) -> subprocess.Popen[bytes]:
    if work.exists():
        shutil.rmtree(work)
    work.mkdir(parents=True)
    out = open(work / "server.log", "wb")  # noqa: SIM115 - closed with the process
    if name == "ours":
        env = prepare_ours(work)
        cmd = [sys.executable, "-m", "tumorboard", "imaging", "listen"]
        proc = _popen(cmd, work, cwd=CHECKOUT, env=env, stdout=out, stderr=subprocess.STDOUT)
        if SPY:  # py-spy attaches to the listener and writes its stacks when the listener exits
            spy = [str(Path(sys.executable).with_name("py-spy")), "record", "--threads", "-r", "250"]
            spy += ["-f", "raw", "-o", f"{SPY[0]}.{time.monotonic_ns()}", "--pid", str(proc.pid)]
            subprocess.Popen(spy, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        return proc
    if name in ("minimal", "durable"):
        (work / "out").mkdir()
        script = MINIMAL_SCP if name == "minimal" else DURABLE_SCP
        cmd = [sys.executable, "-c", script, str(work / "out"), str(PORTS[name])]
        return _popen(cmd, work, env=ENV, stdout=out, stderr=subprocess.STDOUT)
    if name == "storescp":
        (work / "out").mkdir()
        cmd = ["/usr/bin/storescp", "--aetitle", AETS["storescp"], "--output-directory", str(work / "out"),
               str(PORTS["storescp"])]  # fmt: skip
        return _popen(cmd, work, env=ENV, stdout=out, stderr=subprocess.STDOUT)
    config = {
        "Name": "tumorboard-bench",
        "StorageDirectory": str(work / "db"),
        "IndexDirectory": str(work / "db"),
        "Plugins": [],
        "HttpServerEnabled": True,
        "HttpPort": 8042,
        "RemoteAccessAllowed": False,
        "AuthenticationEnabled": False,
        "DicomServerEnabled": True,
        "DicomAet": AETS["orthanc"],
        "DicomPort": PORTS["orthanc"],
        "DicomCheckCalledAet": True,
        "DicomAlwaysAllowEcho": True,
        "DicomAlwaysAllowStore": False,
        "DicomCheckModalityHost": True,
        "DicomModalities": {"bench": {"AET": SENDER, "Host": "127.0.0.1", "Port": 11199, "AllowStore": True}},
        "StableAge": 60,
        "StorageCompression": False,
    }
    (work / "orthanc.json").write_text(json.dumps(config))
    return _popen(["Orthanc", str(work / "orthanc.json")], work, env=ENV, stdout=out, stderr=subprocess.STDOUT)


def stop(proc: subprocess.Popen[bytes]) -> None:
    if TRACE:  # strace holds fatal signals while it traces: the receiver itself gets the Ctrl-C
        children = Path(f"/proc/{proc.pid}/task/{proc.pid}/children").read_text().split()
        for child in children:
            os.kill(int(child), signal.SIGINT)
    else:
        proc.send_signal(signal.SIGINT)
    try:
        proc.wait(20)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


def peak_rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return float("nan")


_TRACED = re.compile(r"^\d+\s+(\w+)\((\d+<([^>]*)>)?")


def traced_calls(work: Path) -> collections.Counter[str]:
    """What the receiver made durable, from ``strace -f -y`` output: syncs of the database (SQLite file, its
    WAL or journal), of folders, of other files (the images), and renames."""
    counts: collections.Counter[str] = collections.Counter()
    for line in (work / "strace.txt").read_text().splitlines():
        match = _TRACED.match(line)
        if match is None:  # also the "<... resumed>" halves of calls strace printed in two parts
            continue
        call, path = match.group(1), match.group(3) or ""
        if call.startswith("rename"):
            counts["rename"] += 1
        elif "sync" in call:
            if re.search(r"(\.sqlite|/index)(-wal|-journal)?$", path):
                counts["sync: database"] += 1
            elif Path(path).is_dir():
                counts["sync: folder"] += 1
            else:
                counts["sync: image file"] += 1
    return counts


def syscall_table(receivers: list[str], data: Path, root: Path, count: int) -> None:
    """Each receiver once under strace: what it makes durable per received instance (start-up and shutdown
    included, so a receiver that syncs its database only at checkpoints shows a small fraction)."""
    TRACE[:] = ["strace", "-f", "-y", "-e", f"trace={DURABILITY_CALLS}"]
    rows = {}
    try:
        for name in receivers:
            proc = start(name, root / name)
            try:
                wait_for(name, proc)
                send(name, data)
            finally:
                stop(proc)
            rows[name] = traced_calls(root / name)
    finally:
        TRACE.clear()
    kinds = ("sync: image file", "sync: folder", "sync: database", "rename")
    print(f"per received instance ({count} instances, strace -f -y):")
    print(f"  {'receiver':<9}" + "".join(f"{k:>18}" for k in kinds))
    for name, counts in rows.items():
        print(f"  {name:<9}" + "".join(f"{counts[k] / count:18.2f}" for k in kinds))


def profile_ours(folder: Path, work: Path) -> str:
    """One round with our listener in this process, cProfile around each C-STORE handler call (the handler runs
    in pynetdicom's association thread, so the profiler is switched on inside it)."""
    from tumorboard.clock import SystemClock
    from tumorboard.db import make_engine, make_session_factory
    from tumorboard.imaging.dicom import listener

    if work.exists():
        shutil.rmtree(work)
    work.mkdir(parents=True)
    env = prepare_ours(work)
    profiler = cProfile.Profile()
    original = listener.Intake.store

    def store(self: listener.Intake, *args: object) -> int:
        profiler.enable()
        try:
            return original(self, *args)  # type: ignore[arg-type]
        finally:
            profiler.disable()

    listener.Intake.store = store  # type: ignore[method-assign]
    engine = make_engine(env["TUMORBOARD_DATABASE_URL"])
    server = listener.start_listener(
        make_session_factory(engine), SystemClock(), work / "store", host="127.0.0.1", port=PORTS["ours"],
        ae_title="TUMORBOARD", block=False,
    )  # fmt: skip
    try:
        send("ours", folder)
    finally:
        server.shutdown()
        listener.Intake.store = original  # type: ignore[method-assign]
        engine.dispose()
    text = io.StringIO()
    stats = pstats.Stats(profiler, stream=text)
    stats.sort_stats("tottime").print_stats(18)
    stats.sort_stats("cumulative").print_stats(30)
    return text.getvalue()


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--count", type=int, default=300)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--big", type=int, default=2000, help="instances of the 1 GB study for the memory check")
    parser.add_argument("--receivers", default="ours,minimal,storescp,orthanc,durable")
    parser.add_argument("--no-profile", action="store_true")
    parser.add_argument("--syscalls", action="store_true", help="count durability syscalls instead of timing")
    parser.add_argument("--load", action="store_true", help="issue 16: four/one/ten concurrent associations")
    parser.add_argument("--scenarios", default="four,one,ten", help="with --load: which of four,one,ten to run")
    parser.add_argument("--spy", metavar="FILE", help="py-spy record ours to FILE.<n> (py-spy in the venv; not pinned)")
    args = parser.parse_args()
    if args.spy:
        SPY[:] = [args.spy]
    if os.environ.get("TUMORBOARD_BENCH_NETNS") != "1":
        # Orthanc and storescp listen on all interfaces: run everything in a private network namespace.
        os.execvp("unshare", ["unshare", "--net", "env", "TUMORBOARD_BENCH_NETNS=1", sys.executable, *sys.argv])  # noqa: S606
    subprocess.run(["ip", "link", "set", "lo", "up"], check=True)

    root = Path(tempfile.mkdtemp(prefix="tb-bench-"))
    try:
        data = root / "data"
        files = make_study(data, args.count)
        mb = sum(p.stat().st_size for p in files) / 1e6
        print(
            f"machine: {platform.node()} · {os.cpu_count()} cores · {platform.platform()} · "
            f"Python {platform.python_version()}"
        )
        print(
            f"data: {args.count} CT instances 512×512×16 bit, {mb:.0f} MB; {args.rounds} rounds; storescu TCP_NODELAY=1"
        )
        if args.load:
            print(f"load: {uptime()} (1, 5, 15 min; {os.cpu_count()} cores)")
            load_scenarios(root, args.rounds, args.count, args.scenarios.split(","), args.receivers.split(","))
            return
        receivers = args.receivers.split(",")
        if args.syscalls:
            syscall_table(receivers, data, root, args.count)
            return
        times: dict[str, list[float]] = {r: [] for r in receivers}
        for rnd in range(args.rounds):
            for name in receivers:
                proc = start(name, root / name)
                try:
                    wait_for(name, proc)
                    times[name].append(send(name, data))
                finally:
                    stop(proc)
            print(f"round {rnd + 1}: " + ", ".join(f"{n} {times[n][-1]:.2f} s" for n in receivers))
        med = {n: statistics.median(t) for n, t in times.items()}
        print("\nmedian seconds and instances/s:")
        for n in receivers:
            print(f"  {n:<9} {med[n]:6.2f} s  {args.count / med[n]:7.1f} inst/s")
        if "ours" in med and "minimal" in med:
            print(f"  ours / minimal throughput: {med['minimal'] / med['ours']:.2f} (need ≥ 0.60)")
        if "ours" in med and "orthanc" in med:
            print(f"  ours / orthanc throughput: {med['orthanc'] / med['ours']:.2f} (need ≥ 0.75)")
        if "durable" in med:
            for other in ("minimal", "orthanc"):
                if other in med:
                    print(f"  durable floor / {other} throughput: {med[other] / med['durable']:.2f}")

        if not args.no_profile:
            print("\nprofile of our C-STORE handler (one round, cumulative):")
            print(profile_ours(data, root / "profile"))

        if args.big:
            shutil.rmtree(data)
            big = make_study(root / "big", args.big)
            gb = sum(p.stat().st_size for p in big) / 1e9
            proc = start("ours", root / "ours-big")
            try:
                wait_for("ours", proc)
                elapsed = send("ours", root / "big")
                rss = peak_rss_mb(proc.pid)
            finally:
                stop(proc)
            print(
                f"1 GB study: {args.big} instances, {gb:.2f} GB in {elapsed:.1f} s; "
                f"listener peak RSS (VmHWM) {rss:.0f} MB (need < 300)"
            )
    finally:
        shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    main()
