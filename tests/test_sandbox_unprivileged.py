"""The sandbox suites again, as an unprivileged user (uid 65534): the levels a laptop or a
container without root gets (user namespaces; Landlock where those are unavailable). Each suite
skips, with a reason, what needs root or a stronger level; everything else must hold."""
import json
import os
import sys

import pytest

from tests.unprivileged import run_as_nobody

pytestmark = [pytest.mark.slow, pytest.mark.timeout(1800),
              pytest.mark.skipif(os.geteuid() != 0, reason="already unprivileged: the normal run is this one")]

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SUITES = ["tests/test_sandbox_executor.py", "tests/test_sandbox_protocol.py",
          "tests/test_sandbox_honest.py", "tests/test_sandbox_adversarial.py",
          "tests/test_sandbox_attacks.py", "tests/test_sandbox_attacks2.py",
          "tests/test_sandbox_attacks3.py"]


def _run(level: str, suites: list[str]):
    env = {"PATH": "/usr/local/bin:/usr/bin:/bin", "HOME": "/tmp", "TMPDIR": "/tmp",
           "LANG": "C.UTF-8", "PYTHONDONTWRITEBYTECODE": "1", "SANDBOX_ALLOW_WEAKER_ISOLATION": "1"}
    if level:
        env["SANDBOX_FORCE_LEVEL"] = level
    argv = [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-rs",
            "--basetemp", f"/tmp/pytest-nobody-{level or 'default'}-{os.getpid()}", *suites]
    proc = run_as_nobody(argv, cwd=REPO, env=env, timeout=1500)
    return proc


def _level_of(output: str) -> str | None:
    for line in output.splitlines():
        if line.startswith("SANDBOX_LEVEL "):
            return json.loads(line.split(" ", 1)[1])["level"]
    return None


@pytest.mark.parametrize("level", ["", "landlock"], ids=["userns", "landlock"])
def test_sandbox_suites_as_nobody(level):
    proc = _run(level, SUITES)
    tail = (proc.stdout + proc.stderr)[-6000:]
    assert proc.returncode == 0, tail
    print(tail[-3000:])
