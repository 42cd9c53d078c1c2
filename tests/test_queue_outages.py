"""The work queue through storage outages and without workers (issue #15, points 5-6).

A real GCS peer (fake-gcs-server on its filesystem backend, so objects survive a restart) is
SIGKILLed mid-batch for 70 s and restarted on the same port: the worker process and the consumer
ride it out, each logging the outage once, and every result arrives exactly once. A consumer that
does give up raises the project's errors with the cause chained, never a raw transport error; a
worker killed just before a submit is not counted as live; a data stage on an unserved queue fails
after its idle timeout, naming the queue.
"""
import json
import logging
import os
import signal
import subprocess
import sys
import threading
import time

import pytest

from sandbox_workers import NoWorkerError, QueueClient
from sandbox_workers import queue as q
from tests.fake_gcs import FakeGCS
from tests.test_sandbox_queue import check_exactly_once, make_jobs

pytestmark = pytest.mark.timeout(600)
REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


@pytest.fixture
def gcs(tmp_path):
    os.environ["GCSFS_EXPERIMENTAL_ZB_HNS_SUPPORT"] = "false"
    server = FakeGCS(str(tmp_path / "gcs")).start()
    import gcsfs
    gcsfs.GCSFileSystem(**server.options).mkdir("outage-bucket")
    yield server
    server.kill()


def _worker(options, *extra):
    env = dict(os.environ, GCSFS_EXPERIMENTAL_ZB_HNS_SUPPORT="false", PYTHONPATH=REPO)
    return subprocess.Popen(
        [sys.executable, "-m", "sandbox_workers.worker", "--queue", "gs://outage-bucket/q", "--workers", "1",
         "--lease-ttl", "6", "--heartbeat", "1", "--poll", "0.2", "--storage-options", json.dumps(options), *extra],
        cwd=REPO, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True, start_new_session=True)


@pytest.mark.slow
def test_a_70_second_storage_outage_mid_batch_loses_and_duplicates_nothing(gcs, caplog):
    """70 s: longer than gcsfs's own retries of one call (~63 s), so the outage reaches our layer."""
    options = gcs.options
    client = QueueClient("gs://outage-bucket/q", storage_options=options, outage_s=120)
    n = 24
    batch = client.submit(make_jobs(n, sleep_s=0.25), shard_size=2)
    worker = _worker(options, "--outage", "120")
    results, errors = [], []

    def consume():
        try:
            results.extend(client.results(batch, timeout_s=400, idle_timeout_s=200))
        except BaseException as e:  # noqa: BLE001 - reported by the assertion below
            errors.append(e)

    with caplog.at_level(logging.WARNING, logger="sandbox_workers.queue"):
        consumer = threading.Thread(target=consume)
        consumer.start()
        deadline = time.monotonic() + 120
        while len(results) < 4:
            assert time.monotonic() < deadline and not errors, (errors, worker.poll())
            time.sleep(0.1)
        gcs.kill()
        killed_with = len(results)
        time.sleep(70)
        assert worker.poll() is None, "the worker exited during the outage"
        assert len(results) == killed_with and consumer.is_alive()
        gcs.start()
        consumer.join(timeout=300)
    try:
        assert not consumer.is_alive() and not errors, errors
        check_exactly_once(results, n)
        assert killed_with < n  # the outage really was mid-batch
    finally:
        worker.send_signal(signal.SIGTERM)
        _, stderr = worker.communicate(timeout=60)
    # one warning when the outage starts and one when it ends, on each side (not one per failed call)
    consumer_lines = [r.getMessage() for r in caplog.records if "storage of queue" in r.getMessage()]
    assert [("unreachable" in m, "reachable again" in m) for m in consumer_lines] == [(True, False), (False, True)]
    assert stderr.count("unreachable (") == 1 and stderr.count("reachable again after") == 1, stderr[-3000:]
    assert worker.returncode == 0, stderr[-3000:]


def test_a_consumer_that_gives_up_raises_the_projects_error_with_the_cause(gcs):
    client = QueueClient("gs://outage-bucket/q2", storage_options=gcs.options, outage_s=4)
    batch = client.submit(make_jobs(2), shard_size=1)
    gcs.kill()
    t0 = time.monotonic()
    with pytest.raises(q.StorageUnavailable, match=r"storage of queue gs://outage-bucket/q2 unreachable for \d+s") as err:
        list(client.results(batch, timeout_s=60))
    assert isinstance(err.value, q.QueueTimeout) and err.value.__cause__ is not None
    assert q.is_transient(err.value.__cause__)
    assert time.monotonic() - t0 < 150  # outage_s, after gcsfs's own ~63 s of retries of the call


def test_a_worker_killed_just_before_submit_is_not_live(tmp_path):
    uri = str(tmp_path / "queue")
    env = dict(os.environ, PYTHONPATH=REPO)
    worker = subprocess.Popen([sys.executable, "-m", "sandbox_workers.worker", "--queue", uri, "--workers", "1",
                               "--heartbeat", "0.5", "--lease-ttl", "2", "--poll", "0.1"],
                              cwd=REPO, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                              start_new_session=True)
    client = QueueClient(uri)
    deadline = time.monotonic() + 60
    while not client.live_workers():
        assert time.monotonic() < deadline and worker.poll() is None, "the worker never beat"
        time.sleep(0.1)
    os.killpg(worker.pid, signal.SIGKILL)
    worker.wait()
    batch = client.submit(make_jobs(3), shard_size=1)
    seen = []
    t0 = time.monotonic()
    with pytest.raises(NoWorkerError, match=rf"no worker is serving queue {uri}: 3 of 3 shards .* no live worker"):
        list(client.results(batch, timeout_s=120, idle_timeout_s=4,
                            on_progress=lambda done, total, live: seen.append((done, total, live))))
    # a heartbeat 0.5 s old when the batch went in: live for LIVE_BEATS periods, then not
    assert time.monotonic() - t0 < 30 and seen and seen[-1] == (0, 3, 0)
    assert client.live_workers() == []


def test_a_data_stage_on_an_unserved_queue_fails_after_its_idle_timeout(tmp_path):
    from acecoder_jax.configs import data as data_configs
    from acecoder_jax.data import io, stages

    uri = str(tmp_path / "queue")
    records = [{"id": "q", "source": "t", "question": "Add one.", "test_cases": ["assert inc(1) == 2"] * 5,
                "seed_program": "def inc(x):\n    return x + 1\n"}]
    src = str(tmp_path / "in.jsonl")
    io.write_jsonl(src, records)
    cfg = data_configs.get_config("toy")
    cfg.progress = False
    cfg.execution.backend, cfg.execution.uri, cfg.execution.idle_timeout_s = "queue", uri, 3.0
    t0 = time.monotonic()
    with pytest.raises(NoWorkerError, match=rf"no worker is serving queue {uri}"):
        stages.run_proxy_filter(cfg, [src], str(tmp_path / "out.jsonl"))
    assert time.monotonic() - t0 < 30
