"""The sandbox's minimal root wherever the interpreter lives: a venv below /tmp (where the root is
usually assembled) must keep its packages visible to programs."""
import json
import os
import subprocess
import sys

import pytest

from sandbox_workers import rootfs

PROGRAM = "import numpy\nimport tempfile\ndef f(x):\n    open(tempfile.gettempdir() + '/scratch', 'w').write('x')\n    return int(numpy.int64(x) + 1)\n"


def test_staging_directory_avoids_directories_the_view_binds_from():
    view = rootfs.View(directories=["/usr/lib/x86_64-linux-gnu"], files=["/usr/bin/python3"],
                       site_dirs={"/tmp/v/lib/python3/site-packages": ["/tmp/v/lib/python3/site-packages/numpy"]})
    chosen = rootfs.staging_directory(view)
    assert chosen != "/tmp" and os.path.isdir(chosen)
    assert rootfs.staging_directory(rootfs.View(directories=["/usr/lib"])) == "/tmp"


def test_staging_directory_refuses_when_every_candidate_is_taken():
    view = rootfs.View(directories=list(rootfs.STAGING_CANDIDATES))
    with pytest.raises(OSError, match="no directory to assemble the sandbox root on"):
        rootfs.staging_directory(view)


@pytest.mark.skipif(os.geteuid() != 0, reason="the minimal root (full level) needs root")
def test_pool_in_a_venv_below_tmp_keeps_full_isolation_and_its_packages(tmp_path):
    assert str(tmp_path).startswith("/tmp/"), "pytest's tmp_path is expected below /tmp here"
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--system-site-packages", "--without-pip", str(venv)],
                   check=True, timeout=120)
    script = ("import json\nfrom sandbox_workers import SandboxPool\n"
              "with SandboxPool(1) as pool:\n"
              f"    result = list(pool.run([{{'id': 1, 'program': {PROGRAM!r}, "
              "'tests': ['assert f(1) == 2', 'assert f(1) == 3']}]))[0]\n"
              "    print(json.dumps({'isolation': pool.isolation, 'result': result}))\n")
    proc = subprocess.run([str(venv / "bin" / "python"), "-c", script], capture_output=True, text=True,
                          timeout=120, cwd=tmp_path, env={**os.environ, "SANDBOX_ALLOW_WEAKER_ISOLATION": ""})
    assert proc.returncode == 0, proc.stderr[-3000:]
    out = json.loads(proc.stdout.strip().splitlines()[-1])
    assert out["isolation"]["level"] == "full", out["isolation"]
    assert out["result"]["outcomes"] == ["pass", "fail"], out["result"]


TMP_PROGRAMS = [
    {"id": "writes", "program": "def f():\n    open('/tmp/left', 'w').write('x')\n    return open('/tmp/left').read()\n",
     "tests": ["assert f() == 'x'"]},
    {"id": "sees", "program": "import os, sys\n"
                              "def listing():\n    return sorted(os.listdir('/tmp'))\n"
                              "def view_writable():\n    try:\n        open(sys.prefix + '/x', 'w')\n"
                              "        return True\n    except OSError:\n        return False\n",
     "tests": ["assert listing() == [TOP]", "assert view_writable() is False",
               "assert not __import__('os').path.exists('/tmp/left')"]},
]


@pytest.mark.skipif(os.geteuid() != 0, reason="the minimal root (full level) needs root")
@pytest.mark.parametrize("python_loop", ["0", "1"], ids=["c_loop", "python_loop"])
def test_tmp_stays_a_fresh_writable_tmp_when_the_venv_lives_below_it(tmp_path, python_loop):
    """Honest programs may write /tmp as under plain Python; what one leaves there the next never
    sees; the venv's own files stay visible and read-only below it."""
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--system-site-packages", "--without-pip", str(venv)],
                   check=True, timeout=120)
    top = str(tmp_path).split("/")[2]
    jobs = [dict(j, program=j["program"].replace("TOP", repr(top)), tests=[t.replace("TOP", repr(top))
                                                                             for t in j["tests"]]) for j in TMP_PROGRAMS]
    script = ("import json, sys\nfrom sandbox_workers import SandboxPool\n"
              "with SandboxPool(1) as pool:\n"
              f"    print(json.dumps([pool.isolation['level'], pool.isolation['clone_loop'], "
              f"list(pool.run({jobs!r}))]))\n")
    proc = subprocess.run([str(venv / "bin" / "python"), "-c", script], capture_output=True, text=True, timeout=120,
                          cwd=tmp_path, env={**os.environ, "SANDBOX_ALLOW_WEAKER_ISOLATION": "",
                                             "SANDBOX_PYTHON_CLONE_LOOP": python_loop})
    assert proc.returncode == 0, proc.stderr[-3000:]
    level, loop, results = json.loads(proc.stdout.strip().splitlines()[-1])
    assert level == "full" and loop == ("python" if python_loop == "1" else "c")
    assert [r["outcomes"] for r in results] == [["pass"], ["pass", "pass", "pass"]], results
