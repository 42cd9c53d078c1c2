"""Dry runs of the TPU-slice and worker-pool launch scripts, plus the remote shell they generate run for real.

gcloud is never called: every script runs with --dry_run and the printed commands are parsed. The
bash that the TPU commands send to the workers (install, start a stage, stream its log, stop it) is
executed here under a throw-away $HOME, with a stub pip and a stand-in stage script.
"""
import json
import os
import shlex
import subprocess
import sys
import tarfile
import time

import pytest

REPO = os.path.normpath(os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
TPU = os.path.join(REPO, "launch", "tpu", "tpu_vm.py")
POOL = os.path.join(REPO, "launch", "pool", "workers.py")
BASE = ["--name=ace", "--zone=us-east5-a"]
STAGE_ARGS = ["--config=configs/rm.py:paper_7b", "--config.data.train=gs://bkt/pairs dir/p.jsonl",
              "--config.train.global_batch=128", "--workdir=gs://bkt/runs/rm7b"]


def launch(script, *args, check=True):
    proc = subprocess.run([sys.executable, script, *args], cwd=REPO, capture_output=True, text=True, timeout=120)
    if check:
        assert proc.returncode == 0, proc.stderr
    return proc


def commands(stdout):
    """Printed shell lines -> argv lists; a quoted argument may span lines; '#' lines are comments."""
    result, pending = [], ""
    for line in stdout.splitlines():
        if not pending and (not line.strip() or line.startswith("#")):
            continue
        pending = f"{pending}\n{line}" if pending else line
        try:
            result.append(shlex.split(pending))
        except ValueError:  # an open quote: the command continues on the next line
            continue
        pending = ""
    assert not pending, f"unterminated command: {pending!r}"
    return result


def option(argv, name):
    values = [a.split("=", 1)[1] for a in argv if a.startswith(f"--{name}=")]
    assert len(values) == 1, f"--{name} appears {len(values)} times in {argv}"
    return values[0]


def bash_syntax_ok(script):
    proc = subprocess.run(["bash", "-n"], input=script, capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr


def error_of(script, *args):
    proc = launch(script, *args, check=False)
    assert proc.returncode != 0, proc.stdout
    return proc.stderr


# -- TPU VM: create ----------------------------------------------------------------------------
@pytest.mark.parametrize("accelerator, version", [
    ("v5p-64", "v2-alpha-tpuv5"), ("v4-32", "tpu-ubuntu2204-base"), ("v5litepod-16", "v2-alpha-tpuv5-lite"),
    ("v6e-8", "v2-alpha-tpuv6e"),
])
def test_tpu_create_picks_runtime_per_generation(accelerator, version):
    (argv,) = commands(launch(TPU, "create", "--dry_run", *BASE, f"--accelerator_type={accelerator}", "--spot").stdout)
    assert argv[:6] == ["gcloud", "compute", "tpus", "tpu-vm", "create", "ace"]
    assert option(argv, "zone") == "us-east5-a"
    assert option(argv, "accelerator-type") == accelerator
    assert option(argv, "version") == version
    assert "--spot" in argv and "--preemptible" not in argv


def test_tpu_create_flags_pass_through():
    out = launch(TPU, "create", "--dry_run", *BASE, "--project=my-proj", "--accelerator_type=v5p-128",
                 "--version=custom-runtime", "--preemptible", "--service_account=sa@my-proj.iam.gserviceaccount.com")
    (argv,) = commands(out.stdout)
    assert option(argv, "project") == "my-proj"
    assert option(argv, "version") == "custom-runtime"
    assert option(argv, "service-account") == "sa@my-proj.iam.gserviceaccount.com"
    assert "--preemptible" in argv and "--spot" not in argv


@pytest.mark.parametrize("args, expected", [
    (["--accelerator_type=v5p-64", "--spot", "--preemptible"], "--spot and --preemptible"),
    (["--accelerator_type=v5p"], "--accelerator_type='v5p'"),
    (["--accelerator_type=v5p-0"], "--accelerator_type='v5p-0'"),
    (["--accelerator_type=v9-8"], "pass --version"),
    ([], "--accelerator_type"),
])
def test_tpu_create_bad_arguments(args, expected):
    assert expected in error_of(TPU, "create", "--dry_run", *BASE, *args)


def test_tpu_common_bad_arguments():
    assert "--name is required" in error_of(TPU, "delete", "--dry_run", "--zone=z")
    assert "--zone is required" in error_of(TPU, "delete", "--dry_run", "--name=ace")
    assert "--name='Bad_Name'" in error_of(TPU, "delete", "--dry_run", "--zone=z", "--name=Bad_Name")
    assert "unknown subcommand 'launch'" in error_of(TPU, "launch", "--dry_run", *BASE)
    assert "unexpected arguments for delete" in error_of(TPU, "delete", "--dry_run", *BASE, "--", "--x=1")
    assert "subcommand" in error_of(TPU, "--dry_run", *BASE)


def test_tpu_delete():
    (argv,) = commands(launch(TPU, "delete", "--dry_run", *BASE).stdout)
    assert argv == ["gcloud", "compute", "tpus", "tpu-vm", "delete", "ace", "--zone=us-east5-a", "--quiet"]


# -- TPU VM: setup -----------------------------------------------------------------------------
def _fake_venv(home):
    """$HOME/acecoder-venv with the real interpreter and a pip that only records its calls.

    `python` execs this interpreter by its own path: a symlink to a venv's python, away from the
    venv's pyvenv.cfg, would start the base interpreter without the venv's packages.
    """
    bin_dir = os.path.join(home, "acecoder-venv", "bin")
    os.makedirs(bin_dir)
    python = os.path.join(bin_dir, "python")
    with open(python, "w") as f:
        f.write(f'#!/bin/sh\nexec {shlex.quote(sys.executable)} "$@"\n')
    os.chmod(python, 0o755)
    pip = os.path.join(bin_dir, "pip")
    with open(pip, "w") as f:
        f.write('#!/bin/sh\necho "$PWD|$*" >> "$HOME/pip.log"\n')
    os.chmod(pip, 0o755)


def _run_remote(script, home, timeout=120):
    """Like a worker's ssh session: bash in $HOME, nothing of this process's environment but PATH."""
    env = {"HOME": str(home), "PATH": os.environ["PATH"], "JAX_PLATFORMS": "cpu"}
    return subprocess.run(["bash", "-c", script], cwd=home, env=env, capture_output=True, text=True, timeout=timeout)


def _is_git_checkout():
    return subprocess.run(["git", "-C", REPO, "rev-parse", "HEAD"], capture_output=True).returncode == 0


needs_git = pytest.mark.skipif(not _is_git_checkout(), reason="the repository is not a git checkout")


@needs_git
def test_tpu_setup_local_copies_this_checkout_to_all_workers_and_installs(tmp_path):
    archive = tmp_path / "src.tar.gz"
    cmds = commands(launch(TPU, "setup", "--dry_run", *BASE, "--ref=HEAD").stdout)
    assert [c[:2] for c in cmds] == [["git", "-C"], ["gcloud", "compute"]] + [["gcloud", "compute"]]
    git_archive, scp, ssh = cmds
    assert git_archive[2] == REPO and git_archive[3] == "archive" and git_archive[-1] == "HEAD"
    local_archive = option(git_archive, "output")
    assert scp[4] == "scp" and scp[5] == local_archive and scp[6] == "ace:acecoder-jax-src.tar.gz"
    assert option(scp, "worker") == "all" and option(ssh, "worker") == "all"
    script = option(ssh, "command")
    bash_syntax_ok(script)
    assert 'install -e ".[tpu]"' in script

    # Run the printed archive command (to our own path) and the worker script under a fake $HOME.
    git_archive[git_archive.index(f"--output={local_archive}")] = f"--output={archive}"
    subprocess.run(git_archive, check=True, timeout=60)
    with tarfile.open(archive) as tar:
        assert {"setup.py", "launch/tpu/tpu_vm.py"} <= set(tar.getnames())
    home = tmp_path / "home"
    home.mkdir()
    os.replace(archive, home / "acecoder-jax-src.tar.gz")
    _fake_venv(str(home))
    proc = _run_remote(script, home)
    assert proc.returncode == 0, proc.stderr
    checkout = home / "acecoder-jax"
    assert (checkout / "setup.py").is_file() and not (home / "acecoder-jax.new").exists()
    calls = (home / "pip.log").read_text().splitlines()
    assert calls == [f"{home}|install -q --upgrade pip", f"{checkout}|install -e .[tpu]"]
    assert proc.stdout.split()[0] == "0"  # the import check printed jax.process_index()


@needs_git
def test_tpu_setup_git_clones_the_ref_on_every_worker(tmp_path):
    cmds = commands(launch(TPU, "setup", "--dry_run", *BASE, "--source=git", f"--repo_url={REPO}", "--ref=HEAD",
                           "--extras=tpu,test", "--pip_args=--no-cache-dir").stdout)
    (ssh,) = cmds
    assert option(ssh, "worker") == "all"
    script = option(ssh, "command")
    assert "git clone" in script and "FETCH_HEAD" in script and 'install -e ".[tpu,test]" --no-cache-dir' in script
    home = tmp_path / "home"
    home.mkdir()
    _fake_venv(str(home))
    proc = _run_remote(script, home)
    assert proc.returncode == 0, proc.stderr
    head = subprocess.run(["git", "-C", REPO, "rev-parse", "HEAD"], capture_output=True, text=True).stdout.strip()
    checked_out = subprocess.run(["git", "-C", str(home / "acecoder-jax"), "rev-parse", "HEAD"],
                                 capture_output=True, text=True).stdout.strip()
    assert checked_out == head
    # A second setup on the same worker updates the existing clone instead of failing.
    assert _run_remote(script, home).returncode == 0


@pytest.mark.parametrize("args, expected", [
    (["--source=git"], "--source=git needs --repo_url"),
    (["--repo_url=https://example.com/r.git"], "--repo_url is only used with --source=git"),
    (["--remote_dir=../elsewhere"], "--remote_dir='../elsewhere'"),
    (["--venv=/abs/venv"], "--venv='/abs/venv'"),
    (["--extras=tpu;rm -rf"], "--extras="),
    (["--ref="], "--ref must name"),
])
def test_tpu_setup_bad_arguments(args, expected):
    assert expected in error_of(TPU, "setup", "--dry_run", *BASE, *args)


# -- TPU VM: run / logs / stop -----------------------------------------------------------------
def test_tpu_run_passes_the_stage_flags_to_every_worker_with_multihost_on():
    cmds = commands(launch(TPU, "run", "--dry_run", *BASE, "--stage=train_rm", "--env=XLA_FLAGS=--xla_dump_to=x y",
                           "--", *STAGE_ARGS).stdout)
    start, follow = cmds
    assert start[:6] == ["gcloud", "compute", "tpus", "tpu-vm", "ssh", "ace"]
    assert option(start, "worker") == "all"
    script = option(start, "command")
    bash_syntax_ok(script)
    (line,) = [l for l in script.splitlines() if l.startswith("nohup ")]
    argv = shlex.split(line.split(" > ")[0])
    assert argv[:3] == ["nohup", "setsid", "env"]
    assert argv[3:5] == ["ACECODER_MULTIHOST=1", "XLA_FLAGS=--xla_dump_to=x y"]
    assert argv[5] == "$HOME/acecoder-venv/bin/python" and argv[6] == "launch/train_rm.py"
    assert argv[7:] == STAGE_ARGS
    assert option(follow, "worker") == "0" and "tail" in option(follow, "command")

    (only,) = commands(launch(TPU, "run", "--dry_run", *BASE, "--stage=train_rl", "--nofollow", "--",
                              "--workdir=gs://b/rl").stdout)
    assert "launch/train_rl.py --workdir=gs://b/rl" in option(only, "command")


def test_tpu_run_single_host_stage_on_one_worker():
    assert "single-host stage" in error_of(TPU, "run", "--dry_run", *BASE, "--stage=synthesize", "--",
                                           "--output=gs://b/x.jsonl")
    start, follow = commands(launch(TPU, "run", "--dry_run", *BASE, "--stage=synthesize", "--worker=0", "--",
                                    "--output=gs://b/x.jsonl").stdout)
    assert option(start, "worker") == "0" and option(follow, "worker") == "0"
    assert "ACECODER_MULTIHOST" not in option(start, "command")


@pytest.mark.parametrize("args, expected", [
    (["--stage=train_rm", "--", "--workdir=/tmp/run"], "--workdir=/tmp/run"),
    (["--stage=train_rm", "--", "--workdir=runs/rm"], "must be a gs:// path"),
    (["--stage=train_rm", "--", "--config.data.train=~/pairs.jsonl", "--workdir=gs://b/r"], "worker-local path"),
    (["--stage=train_rm", "--", "positional"], "'positional' is not a flag"),
    (["--stage=no_such_stage", "--", "--workdir=gs://b/r"], "--stage='no_such_stage' is not a script under launch/"),
    (["--", "--workdir=gs://b/r"], "run needs --stage"),
    (["--stage=train_rm", "--worker=first"], "--worker='first'"),
    (["--stage=train_rm", "--env=1BAD=x"], "--env='1BAD=x'"),
    (["--stage=train_rm", "--run_name=a/b"], "--run_name='a/b'"),
])
def test_tpu_run_bad_arguments(args, expected):
    assert expected in error_of(TPU, "run", "--dry_run", *BASE, *args)


def test_tpu_run_local_paths_allowed_on_request():
    (start,) = commands(launch(TPU, "run", "--dry_run", *BASE, "--stage=train_rm", "--nofollow",
                               "--allow_local_paths", "--", "--workdir=/mnt/gcs/run").stdout)
    assert "--workdir=/mnt/gcs/run" in option(start, "command")


FAKE_STAGE = """
import json, os, subprocess, sys, time
print("MULTIHOST=" + os.environ.get("ACECODER_MULTIHOST", ""), flush=True)
print("ARGV=" + json.dumps(sys.argv[1:]), flush=True)
if "--hold=1" in sys.argv:
    child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(600)"])
    print(f"CHILD={child.pid}", flush=True)
    time.sleep(600)
"""


def _alive(pid):
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] not in ("Z", "X")
    except FileNotFoundError:
        return False


def _fake_stage_home(tmp_path):
    home = tmp_path / "home"
    (home / "acecoder-jax" / "launch").mkdir(parents=True)
    (home / "acecoder-jax" / "launch" / "train_rm.py").write_text(FAKE_STAGE)
    _fake_venv(str(home))
    return home


def test_tpu_run_logs_stop_scripts_work_on_a_worker(tmp_path):
    home = _fake_stage_home(tmp_path)
    start, follow = commands(launch(TPU, "run", "--dry_run", *BASE, "--stage=train_rm", "--", *STAGE_ARGS).stdout)
    proc = _run_remote(option(start, "command"), home, timeout=30)
    assert proc.returncode == 0, proc.stderr
    assert "started train_rm" in proc.stdout
    # Streaming the log ends by itself when the stage exits.
    streamed = _run_remote(option(follow, "command"), home, timeout=60)
    assert streamed.returncode == 0, streamed.stderr
    assert "MULTIHOST=1" in streamed.stdout
    (argv_line,) = [l for l in streamed.stdout.splitlines() if l.startswith("ARGV=")]
    assert json.loads(argv_line[len("ARGV="):]) == STAGE_ARGS

    # A held run blocks a second start, and stop kills its whole process group.
    args = ["--stage=train_rm", "--run_name=held", "--nofollow", "--", "--hold=1", "--workdir=gs://b/r"]
    (start,) = commands(launch(TPU, "run", "--dry_run", *BASE, *args).stdout)
    assert _run_remote(option(start, "command"), home, timeout=30).returncode == 0
    log = home / "acecoder-logs" / "held.log"
    deadline = time.time() + 60
    while "CHILD=" not in log.read_text() and time.time() < deadline:
        time.sleep(0.1)
    child = int(log.read_text().split("CHILD=")[1].split()[0])
    leader = int((home / "acecoder-logs" / "held.pid").read_text())
    assert _alive(leader) and _alive(child)
    again = _run_remote(option(start, "command"), home, timeout=30)
    assert again.returncode != 0 and "still running" in again.stderr
    (stop,) = commands(launch(TPU, "stop", "--dry_run", *BASE, "--run_name=held").stdout)
    assert option(stop, "worker") == "all"
    assert _run_remote(option(stop, "command"), home, timeout=60).returncode == 0
    deadline = time.time() + 10
    while (_alive(leader) or _alive(child)) and time.time() < deadline:
        time.sleep(0.1)
    assert not _alive(leader) and not _alive(child)
    assert not (home / "acecoder-logs" / "held.pid").exists()


def test_tpu_logs_needs_a_run_name_and_picks_the_worker():
    (argv,) = commands(launch(TPU, "logs", "--dry_run", *BASE, "--run_name=rm7b", "--log_worker=3").stdout)
    assert option(argv, "worker") == "3" and "rm7b.log" in option(argv, "command")
    assert "logs needs --run_name" in error_of(TPU, "logs", "--dry_run", *BASE)
    assert "stop needs --run_name" in error_of(TPU, "stop", "--dry_run", *BASE)


# -- CPU worker pools --------------------------------------------------------------------------
POOL_BASE = ["--pool=ace-exec", "--zone=us-central1-a", "--queue=gs://my-bucket/queues/exec"]


def _printed_script(stdout):
    lines = stdout.splitlines()
    header = [l for l in lines if l.startswith("# startup script, written to ")]
    assert len(header) == 1
    path = header[0][len("# startup script, written to "):].rstrip(":")
    return path, "\n".join(l[3:] for l in lines if l.startswith("#| ")) + "\n"


def _exec_start(script):
    (line,) = [l for l in script.splitlines() if l.startswith("ExecStart=")]
    return shlex.split(line[len("ExecStart="):])


def test_pool_create_uploads_source_and_creates_all_vms_with_the_startup_script():
    out = launch(POOL, "create", "--dry_run", *POOL_BASE, "--num_vms=3", "--spot", "--machine_type=c3-standard-8",
                 "--ref=HEAD").stdout
    path, script = _printed_script(out)
    archive, upload, create = commands(out)
    assert archive[3] == "archive" and archive[-1] == "HEAD"
    assert upload[:3] == ["gcloud", "storage", "cp"] and upload[3] == option(archive, "output")
    assert upload[4] == "gs://my-bucket/acecoder-jax-src/ace-exec.tar.gz"
    assert create[:4] == ["gcloud", "compute", "instances", "create"]
    assert create[4:7] == ["ace-exec-0", "ace-exec-1", "ace-exec-2"]
    assert option(create, "metadata-from-file") == f"startup-script={path}"
    assert option(create, "machine-type") == "c3-standard-8"
    assert option(create, "provisioning-model") == "SPOT"
    assert option(create, "labels") == "acecoder-pool=ace-exec"
    assert option(create, "scopes").endswith("cloud-platform")
    # The printed script is the one `script` prints, and the VM fetches what create uploaded.
    assert script == launch(POOL, "script", *POOL_BASE, "--ref=HEAD").stdout
    bash_syntax_ok(script)
    assert f"gcloud storage cp {upload[4]} " in script
    assert 'install -q --force-reinstall "$APP/src/sandbox_workers"' in script
    assert "jax" not in script.replace("acecoder-jax", "")
    assert "Restart=always" in script and "WORKERS=$(nproc)" in script
    assert _exec_start(script)[:3] == ["/opt/acecoder/venv/bin/python", "-m", "sandbox_workers.worker"]
    assert option(_exec_start(script), "queue") == "gs://my-bucket/queues/exec"
    assert option(_exec_start(script), "workers") == "${WORKERS}"


def test_pool_git_source_and_worker_flags():
    script = launch(POOL, "script", *POOL_BASE, "--source=git", "--repo_url=https://github.com/o/acecoder-jax",
                    "--ref=v1.2", "--workers_per_vm=6", "--lease_ttl=90", "--heartbeat=15").stdout
    bash_syntax_ok(script)
    assert "git clone -q https://github.com/o/acecoder-jax" in script and "fetch -q " in script and " v1.2" in script
    assert "WORKERS=6" in script and "gcloud storage" not in script
    argv = _exec_start(script)
    assert option(argv, "lease-ttl") == "90" and option(argv, "heartbeat") == "15"
    out = launch(POOL, "create", "--dry_run", *POOL_BASE, "--source=git", "--repo_url=https://github.com/o/r").stdout
    (create,) = commands(out)  # nothing to upload
    assert create[4:5] == ["ace-exec-0"] and "--provisioning-model=SPOT" not in create


def test_pool_worker_command_runs_the_real_worker(tmp_path):
    """The unit's ExecStart flags are the worker's real flags: run it briefly against a local queue."""
    script = launch(POOL, "script", *POOL_BASE, "--workers_per_vm=1", "--lease_ttl=30", "--heartbeat=5").stdout
    argv = [a.replace("${WORKERS}", "1") for a in _exec_start(script)]
    argv[0] = sys.executable
    argv[argv.index("--queue=gs://my-bucket/queues/exec")] = f"--queue={tmp_path / 'queue'}"
    proc = subprocess.run(argv + ["--exit-when-idle", "1"], cwd=REPO, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    (beat,) = os.listdir(tmp_path / "queue" / "workers")
    assert beat.endswith(".json")


def test_pool_lifecycle_commands_name_every_vm():
    names = ["ace-exec-0", "ace-exec-1"]
    for sub in ("start", "stop", "delete"):
        (argv,) = commands(launch(POOL, sub, "--dry_run", *POOL_BASE, "--num_vms=2").stdout)
        assert argv[:4] == ["gcloud", "compute", "instances", sub] and argv[4:6] == names
        assert option(argv, "zone") == "us-central1-a"
        assert ("--quiet" in argv) == (sub == "delete")
    (listing,) = commands(launch(POOL, "list", "--dry_run", *POOL_BASE, "--project=p1").stdout)
    assert option(listing, "filter") == "labels.acecoder-pool=ace-exec" and option(listing, "project") == "p1"
    (logs,) = commands(launch(POOL, "logs", "--dry_run", *POOL_BASE, "--num_vms=2", "--vm=1").stdout)
    assert logs[3] == "ace-exec-1" and "journalctl -u acecoder-sandbox" in option(logs, "command")


@pytest.mark.parametrize("args, expected", [
    (["--queue=/tmp/queue"], "--queue='/tmp/queue' must be a gs://bucket/prefix"),
    (["--queue=gs://UPPER/q"], "bucket name 'UPPER'"),
    (["--queue=gs://ab/q"], "bucket name 'ab'"),
    (["--queue=gs://bkt/q$(reboot)"], "object prefix 'q$(reboot)'"),
    (["--num_vms=0"], "--num_vms=0 must be at least 1"),
    (["--workers_per_vm=-1"], "--workers_per_vm=-1"),
    (["--lease_ttl=20", "--heartbeat=15"], "--heartbeat=15.0 must be at most half"),
    (["--source=git"], "--source=git needs --repo_url"),
    (["--source_uri=/local/src.tar.gz"], "--source_uri='/local/src.tar.gz'"),
    (["--pool=Ace"], "--pool='Ace'"),
    (["--boot_disk_gb=5"], "--boot_disk_gb=5"),
])
def test_pool_create_bad_arguments(args, expected):
    assert expected in error_of(POOL, "create", "--dry_run", *POOL_BASE, *args)


def test_pool_other_bad_arguments():
    assert "unknown subcommand 'scale'" in error_of(POOL, "scale", "--dry_run", *POOL_BASE)
    assert "--vm=2 is not in 0..1" in error_of(POOL, "logs", "--dry_run", *POOL_BASE, "--num_vms=2", "--vm=2")
    assert "--zone is required" in error_of(POOL, "stop", "--dry_run", "--pool=ace-exec")
    assert "create needs --queue" in error_of(POOL, "create", "--dry_run", "--pool=ace-exec", "--zone=z")
    assert "unexpected arguments" in error_of(POOL, "stop", "--dry_run", *POOL_BASE, "extra")
