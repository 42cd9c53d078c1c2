"""--help of the command-line tools documents what a newcomer needs: every flag's default and,
for the sandbox CLIs, the job and result format."""
import re
import subprocess
import sys

import pytest

from sandbox_workers import jobs

SANDBOX_CLIS = ["sandbox_workers.run", "sandbox_workers.worker"]


def _help(module):
    proc = subprocess.run([sys.executable, "-m", module, "--help"], capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr
    return proc.stdout


@pytest.mark.parametrize("module", SANDBOX_CLIS)
def test_sandbox_cli_help_documents_the_job_format_and_every_default(module):
    text = _help(module)
    job_fields = ["id", "mode", "program", "tests", "expressions", "timeout_s", "load_timeout_s", "memory_mb",
                  "details", "fresh_state", "max_timeouts"]
    for field in job_fields:
        assert re.search(rf"^  {field}\s", text, re.M), f"{module} --help does not document job field {field!r}"
    for word in (*jobs.STATUSES, *jobs.OUTCOMES, "docs/sandbox.md"):
        assert word in text, f"{module} --help does not mention {word!r}"
    options = text.split("options:", 1)[1].split("job (", 1)[0]
    entries = re.split(r"\n  (?=-)", options.strip())
    for entry in entries:
        flag = entry.split()[0].rstrip(",")
        if flag in ("-h", "--help", "--jobs", "--results", "--queue"):  # required or help itself
            continue
        assert "default" in entry, f"{module} {flag}: no default in --help:\n{entry}"
