"""The work queue: memory:// and local semantics, and a real GCS peer (fake-gcs-server) with
three worker processes, one SIGKILLed mid-shard, delivering every result exactly once."""
import collections
import json
import os
import signal
import subprocess
import sys
import threading
import time

import pytest

from sandbox_workers import NoWorkerError, QueueClient
from sandbox_workers import queue as q
from sandbox_workers.worker import Worker

pytestmark = pytest.mark.timeout(600)
REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def make_jobs(n, sleep_s=0.0):
    prog = f"import time\ndef f(x):\n    time.sleep({sleep_s})\n    return x * 3\n"
    return [{"id": f"job-{i}", "program": prog, "tests": [f"assert f({i}) == {3 * i}", "assert f(0) == 1"]}
            for i in range(n)]


def check_exactly_once(results, n):
    counts = collections.Counter(r["id"] for r in results)
    assert sorted(counts) == sorted(f"job-{i}" for i in range(n))
    assert set(counts.values()) == {1}
    assert all(r["outcomes"] == ["pass", "fail"] for r in results)


def test_memory_queue_roundtrip():
    client = QueueClient("memory://sbx-q1")
    batch = client.submit(make_jobs(13), shard_size=4)
    assert client.manifest(batch) == {"shards": 4, "jobs": 13, "shard_size": 4}
    worker = Worker("memory://sbx-q1", num_workers=2, lease_ttl_s=2, heartbeat_s=0.5, poll_s=0.05)
    thread = threading.Thread(target=worker.serve, kwargs={"exit_when_idle_s": 2})
    thread.start()
    try:
        check_exactly_once(list(client.results(batch, timeout_s=60)), 13)
    finally:
        thread.join()
        worker.close()


def test_expired_lease_is_taken_over_and_late_duplicate_discarded(tmp_path):
    uri = str(tmp_path / "queue")
    client = QueueClient(uri)
    batch = client.submit(make_jobs(3), shard_size=3)
    base = f"{client.root}/batches/{batch}"
    # A dead owner: attempt 0 exists but never beats again.
    assert q.create_only(client.fs, f"{base}/leases/000000.0", b'{"owner": "dead", "beat": 0}')
    assert not q.create_only(client.fs, f"{base}/leases/000000.0", b"x")  # create-only holds
    worker = Worker(uri, num_workers=1, lease_ttl_s=1.0, heartbeat_s=0.3, poll_s=0.1)
    try:
        start = time.monotonic()
        while not worker.poll_once():
            assert time.monotonic() - start < 30
            time.sleep(0.1)
        assert time.monotonic() - start >= 1.0  # waited out the TTL first
        assert "000000.1" in q._listdir(client.fs, f"{base}/leases")
        # The dead owner comes back late: its duplicate result is refused.
        assert not q.create_only(client.fs, f"{base}/results/000000.jsonl", b'{"end": 0}\n')
        check_exactly_once(list(client.results(batch, timeout_s=10)), 3)
    finally:
        worker.close()


def test_no_worker_error_names_queue():
    client = QueueClient("memory://sbx-empty")
    batch = client.submit(make_jobs(2))
    with pytest.raises(NoWorkerError, match="memory://sbx-empty"):
        list(client.results(batch, timeout_s=1.0))


def test_bad_submit_is_a_clear_error():
    client = QueueClient("memory://sbx-bad")
    with pytest.raises(ValueError, match="job 1"):
        client.submit([{"id": 1}, {"id": object()}])
    with pytest.raises(ValueError, match="shard_size"):
        client.submit([], shard_size=0)


# -- a real GCS peer --------------------------------------------------------------------------

@pytest.fixture(scope="module")
def fake_gcs():
    from tests.fake_gcs import FakeGCS

    server = FakeGCS().start()
    os.environ["GCSFS_EXPERIMENTAL_ZB_HNS_SUPPORT"] = "false"
    import gcsfs
    gcsfs.GCSFileSystem(**server.options).mkdir("sbx-bucket")
    yield server.options
    server.kill()


def _start_worker(options, env):
    return subprocess.Popen(
        [sys.executable, "-m", "sandbox_workers.worker", "--queue", "gs://sbx-bucket/q", "--workers", "1",
         "--lease-ttl", "3", "--heartbeat", "1", "--poll", "0.2", "--storage-options", json.dumps(options)],
        cwd=REPO, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, start_new_session=True)


def test_gcs_workers_with_one_sigkilled_midshard(fake_gcs):
    options = fake_gcs
    client = QueueClient("gs://sbx-bucket/q", storage_options=options)
    n = 36
    batch = client.submit(make_jobs(n, sleep_s=0.15), shard_size=4)
    base = f"{client.root}/batches/{batch}"
    env = dict(os.environ, GCSFS_EXPERIMENTAL_ZB_HNS_SUPPORT="false", PYTHONPATH=REPO)
    workers = [_start_worker(options, env) for _ in range(3)]
    victim = workers[0]
    try:
        # Wait until the victim holds a lease on a shard that has no result yet, then SIGKILL it.
        deadline = time.monotonic() + 120
        killed_shard = None
        while killed_shard is None:
            assert time.monotonic() < deadline, "victim never claimed a shard"
            done = {n.removesuffix(".jsonl") for n in q._listdir(client.fs, f"{base}/results")}
            for name in q._listdir(client.fs, f"{base}/leases"):
                data = q._read(client.fs, f"{base}/leases/{name}")
                shard = name.rpartition(".")[0]
                if data and f"-{victim.pid}-" in json.loads(data)["owner"] and shard not in done:
                    killed_shard = shard
                    break
            time.sleep(0.05)
        time.sleep(0.1)  # inside the shard's jobs (4 jobs x 0.15 s)
        os.killpg(victim.pid, signal.SIGKILL)
        victim.wait(timeout=10)
        assert f"{killed_shard}.jsonl" not in q._listdir(client.fs, f"{base}/results"), "killed too late"
        results = list(client.results(batch, timeout_s=240))
        check_exactly_once(results, n)
        leases = q._listdir(client.fs, f"{base}/leases")
        assert f"{killed_shard}.1" in leases  # taken over after the victim's lease expired
        assert len(q._listdir(client.fs, f"{base}/results")) == n // 4
    finally:
        for w in workers:
            if w.poll() is None:
                w.send_signal(signal.SIGTERM)
        for w in workers:
            try:
                w.wait(timeout=20)
            except subprocess.TimeoutExpired:
                os.killpg(w.pid, signal.SIGKILL)
                w.wait()
    # The killed worker's supervisors died with it (parent-death signal): nothing left behind.
    time.sleep(0.5)
    leftover = subprocess.run(["pgrep", "-f", "sandbox_workers.supervisor"], capture_output=True, text=True).stdout.split()
    ours = [p for p in leftover if os.path.exists(f"/proc/{p}") and
            open(f"/proc/{p}/environ", "rb").read().find(REPO.encode()) >= 0 and
            int(open(f"/proc/{p}/stat").read().split()[3]) in {w.pid for w in workers}]
    assert ours == []
