"""Test-wide setup: 8 simulated CPU devices (must be set before JAX initialises)."""
import os
import tempfile

os.environ.setdefault("XLA_FLAGS", "--xla_force_host_platform_device_count=8")
os.environ.setdefault("JAX_PLATFORMS", "cpu")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
# gcsfs reads this when it is imported: against fake-gcs-server its zonal-bucket probe (gRPC) hangs.
# Set here, before any test module imports gcsfs, so test order cannot matter.
os.environ["GCSFS_EXPERIMENTAL_ZB_HNS_SUPPORT"] = "false"
# The tests' programs are fixtures and toy samples: where the host cannot give the sandbox full
# isolation (not root) they run at the level it can give; the sandbox suites check each level's
# guarantees themselves (tests/test_sandbox_unprivileged.py).
os.environ.setdefault("SANDBOX_ALLOW_WEAKER_ISOLATION", "1")
# The trainers' token cache (train.data.token_cache_dir) goes to a folder of this run, not ~/.cache.
os.environ.setdefault("ACECODER_CACHE", tempfile.mkdtemp(prefix="acecoder-test-cache-"))


def pytest_terminal_summary(terminalreporter):
    from tests import attack_report
    attack_report.report_at_session_end(terminalreporter)
