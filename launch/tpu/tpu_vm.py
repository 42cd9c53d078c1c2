"""Cloud TPU VM slices: create one, install acecoder-jax on every worker, run a stage on all of them.

  python launch/tpu/tpu_vm.py create --name=ace --zone=us-east5-a --accelerator_type=v5p-64 --spot
  python launch/tpu/tpu_vm.py setup  --name=ace --zone=us-east5-a            # copies this checkout at HEAD
  python launch/tpu/tpu_vm.py run    --name=ace --zone=us-east5-a --stage=train_rm -- \
      --config=configs/rm.py:paper_7b --config.model.hf_path=gs://B/qwen7b --config.data.train=gs://B/pairs.jsonl \
      --workdir=gs://B/runs/rm7b
  python launch/tpu/tpu_vm.py logs|stop --name=ace --zone=us-east5-a --run_name=train_rm
  python launch/tpu/tpu_vm.py delete --name=ace --zone=us-east5-a

A multi-host stage runs the same command line on every worker with ACECODER_MULTIHOST=1, so
jax.distributed.initialize finds the slice by itself; each worker has its own disk, which is why
data and checkpoints live on gs://. Every subcommand takes --dry_run: print the exact commands.
Only standard library + absl, so it runs from any laptop that has gcloud.
"""
from __future__ import annotations

import os
import re
import shlex
import shutil
import subprocess
import sys
import tempfile

from absl import app, flags

REPO_ROOT = os.path.normpath(os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", ".."))
SUBCOMMANDS = ("create", "setup", "run", "logs", "stop", "delete")
# Stages that join a multi-host JAX run; the others are single-host CPU stages (--worker=0).
MULTIHOST_STAGES = ("train_rm", "train_lm", "train_rl", "best_of_n", "pipeline")
# TPU generation (prefix of the accelerator type) -> software version that carries its runtime.
RUNTIME_VERSIONS = {
    "v2": "tpu-ubuntu2204-base",
    "v3": "tpu-ubuntu2204-base",
    "v4": "tpu-ubuntu2204-base",
    "v5litepod": "v2-alpha-tpuv5-lite",
    "v5p": "v2-alpha-tpuv5",
    "v6e": "v2-alpha-tpuv6e",
}

NAME = flags.DEFINE_string("name", None, "TPU VM (slice) name.")
ZONE = flags.DEFINE_string("zone", None, "Zone of the TPU VM, e.g. us-east5-a.")
PROJECT = flags.DEFINE_string("project", "", "GCP project (default: gcloud's configured project).")
DRY_RUN = flags.DEFINE_bool("dry_run", False, "Print the exact commands instead of running them.")
INTERNAL_IP = flags.DEFINE_bool("internal_ip", False, "ssh/scp over internal IPs (from a VM in the same VPC).")
# create
ACCELERATOR = flags.DEFINE_string("accelerator_type", None, "create: slice type, e.g. v5p-64, v4-32, v5litepod-16.")
VERSION = flags.DEFINE_string("version", "", "create: TPU software version (default: by generation).")
SPOT = flags.DEFINE_bool("spot", False, "create: spot capacity (may be preempted, no time limit).")
PREEMPTIBLE = flags.DEFINE_bool("preemptible", False, "create: preemptible capacity (legacy, time-limited).")
SERVICE_ACCOUNT = flags.DEFINE_string("service_account", "", "create: service account with gs:// access.")
# setup
SOURCE = flags.DEFINE_enum("source", "local", ["local", "git"],
                           "setup: local = `git archive` of this checkout at --ref, copied to every worker; "
                           "git = every worker clones --repo_url at --ref.")
REPO_URL = flags.DEFINE_string("repo_url", "", "setup --source=git: repository URL the workers can clone.")
REF = flags.DEFINE_string("ref", "HEAD", "setup: git ref to install (commit, tag or branch).")
EXTRAS = flags.DEFINE_string("extras", "tpu", "setup: setup.py extras installed with `pip install -e .[EXTRAS]`.")
PIP_ARGS = flags.DEFINE_string("pip_args", "", "setup: extra arguments for that pip install.")
REMOTE_DIR = flags.DEFINE_string("remote_dir", "acecoder-jax", "Checkout directory on the workers, under $HOME.")
VENV = flags.DEFINE_string("venv", "acecoder-venv", "Virtual environment on the workers, under $HOME.")
# run / logs / stop
STAGE = flags.DEFINE_string("stage", None,
                            "run: a stage under launch/ (train_rm, train_rl, ...); its flags go after --.")
RUN_NAME = flags.DEFINE_string("run_name", "", "run/logs/stop: names the log and pid files (default: the stage).")
WORKER = flags.DEFINE_string("worker", "all", "run: `all`, or one worker index for single-host stages.")
ENV = flags.DEFINE_multi_string("env", [], "run: KEY=VALUE set for the stage on every worker (repeatable).")
FOLLOW = flags.DEFINE_bool("follow", True, "run: stream worker 0's log until the stage exits.")
ALLOW_LOCAL_PATHS = flags.DEFINE_bool("allow_local_paths", False,
                                      "run: accept absolute local paths in stage flags (e.g. a gcsfuse mount).")
LOG_WORKER = flags.DEFINE_integer("log_worker", 0, "logs: which worker's log to stream.")

_SAFE_NAME = re.compile(r"^[a-z]([-a-z0-9]{0,61}[a-z0-9])?$")
_SAFE_RELPATH = re.compile(r"^[A-Za-z0-9._-]+(/[A-Za-z0-9._-]+)*$")
_ENV_KEY = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


class UsageError(ValueError):
    """A bad flag or argument; the message names it."""


# -- shared pieces -----------------------------------------------------------------------------
def _location(zone: str, project: str) -> list[str]:
    return [f"--zone={zone}"] + ([f"--project={project}"] if project else [])


def ssh(name: str, zone: str, project: str, worker: str, script: str, internal_ip: bool = False) -> list[str]:
    """`gcloud ... tpu-vm ssh` running a bash script on one worker or all of them."""
    argv = ["gcloud", "compute", "tpus", "tpu-vm", "ssh", name, *_location(zone, project), f"--worker={worker}"]
    if internal_ip:
        argv.append("--internal-ip")
    return argv + [f"--command={script}"]


def _home(relpath: str) -> str:
    return f"$HOME/{relpath}"


def _paths(run_name: str) -> tuple[str, str]:
    logs = _home("acecoder-logs")
    return f"{logs}/{run_name}.log", f"{logs}/{run_name}.pid"


def runtime_version(accelerator_type: str, required: bool = True) -> str:
    """The default software version for a slice type; checks the type's form either way."""
    match = re.fullmatch(r"(v[0-9]+[a-z]*)-([0-9]+)", accelerator_type or "")
    if not match or int(match.group(2)) <= 0:
        raise UsageError(f"--accelerator_type={accelerator_type!r} is not a TPU slice type such as v5p-64 or v4-32")
    generation = match.group(1)
    if generation not in RUNTIME_VERSIONS:
        if not required:
            return ""
        raise UsageError(f"--accelerator_type={accelerator_type!r}: no default runtime for {generation!r} "
                         f"(known: {', '.join(RUNTIME_VERSIONS)}); pass --version")
    return RUNTIME_VERSIONS[generation]


# -- subcommands: each returns the list of argv lists to run, in order -------------------------
def create_commands(name, zone, project, accelerator_type, version, spot, preemptible, service_account):
    if spot and preemptible:
        raise UsageError("--spot and --preemptible exclude each other; pick one")
    default_version = runtime_version(accelerator_type, required=not version)
    version = version or default_version
    argv = ["gcloud", "compute", "tpus", "tpu-vm", "create", name, *_location(zone, project),
            f"--accelerator-type={accelerator_type}", f"--version={version}"]
    if spot:
        argv.append("--spot")
    if preemptible:
        argv.append("--preemptible")
    if service_account:
        argv += [f"--service-account={service_account}", "--scopes=https://www.googleapis.com/auth/cloud-platform"]
    return [argv]


def _install_script(remote_dir: str, venv: str, extras: str, pip_args: str) -> list[str]:
    checkout, env = _home(remote_dir), _home(venv)
    spec = "." + (f"[{extras}]" if extras else "")
    return [
        f'if [ ! -x "{env}/bin/python" ]; then',
        f'  python3 -m venv "{env}" || {{ sudo apt-get update -q && sudo apt-get install -y -q python3-venv'
        f' && python3 -m venv "{env}"; }}',
        "fi",
        f'"{env}/bin/pip" install -q --upgrade pip',
        f'cd "{checkout}" && "{env}/bin/pip" install -e "{spec}"' + (f" {pip_args}" if pip_args else ""),
        f'"{env}/bin/python" -c "import acecoder_jax, jax; print(jax.process_index(), jax.device_count())"',
    ]


def setup_commands(name, zone, project, source, repo_url, ref, extras, pip_args, remote_dir, venv,
                   internal_ip=False, archive_path=None):
    for flag, value in (("remote_dir", remote_dir), ("venv", venv)):
        if not _SAFE_RELPATH.match(value) or ".." in value.split("/"):
            raise UsageError(f"--{flag}={value!r} must be a plain relative path under $HOME")
    if not ref:
        raise UsageError("--ref must name a git ref (commit, tag or branch)")
    if extras and not re.fullmatch(r"[A-Za-z0-9_,-]+", extras):
        raise UsageError(f"--extras={extras!r} must be comma-separated extra names, e.g. tpu or tpu,test")
    checkout = _home(remote_dir)
    commands = []
    if source == "local":
        if repo_url:
            raise UsageError("--repo_url is only used with --source=git")
        archive_path = archive_path or os.path.join(tempfile.gettempdir(), f"acecoder-jax-{name}.tar.gz")
        remote_archive = "acecoder-jax-src.tar.gz"
        commands.append(["git", "-C", REPO_ROOT, "archive", "--format=tar.gz", f"--output={archive_path}", ref])
        scp = ["gcloud", "compute", "tpus", "tpu-vm", "scp", archive_path, f"{name}:{remote_archive}",
               *_location(zone, project), "--worker=all"]
        if internal_ip:
            scp.append("--internal-ip")
        commands.append(scp)
        fetch = [
            f'rm -rf "{checkout}.new" && mkdir -p "{checkout}.new"',
            f'tar -xzf "$HOME/{remote_archive}" -C "{checkout}.new"',
            f'rm -rf "{checkout}" && mv "{checkout}.new" "{checkout}"',
        ]
    else:
        if not repo_url:
            raise UsageError("--source=git needs --repo_url (a URL every worker can clone)")
        fetch = [
            f'if [ ! -d "{checkout}/.git" ]; then git clone -q {shlex.quote(repo_url)} "{checkout}"; fi',
            f'git -C "{checkout}" fetch -q {shlex.quote(repo_url)} {shlex.quote(ref)}',
            f'git -C "{checkout}" checkout -q --detach FETCH_HEAD',
        ]
    script = "\n".join(["set -euo pipefail", *fetch, *_install_script(remote_dir, venv, extras, pip_args)])
    commands.append(ssh(name, zone, project, "all", script, internal_ip))
    return commands


def _check_stage_flags(stage_args: list[str], allow_local_paths: bool) -> None:
    workdir = None
    for arg in stage_args:
        if not arg.startswith("-"):
            raise UsageError(f"stage argument {arg!r} is not a flag; pass stage flags as --flag=value after --")
        key, _, value = arg.lstrip("-").partition("=")
        if key == "workdir":
            workdir = value
        if not allow_local_paths and (value.startswith("/") or value.startswith("~") or value.startswith("file:")):
            raise UsageError(f"stage flag {arg!r} names a worker-local path; every worker has its own disk, "
                             "so put data and checkpoints on gs:// (or pass --allow_local_paths)")
    if workdir is not None and not workdir.startswith("gs://") and not allow_local_paths:
        raise UsageError(f"stage flag --workdir={workdir!r} must be a gs:// path shared by all workers")


def _stage_names() -> list[str]:
    launch = os.path.join(REPO_ROOT, "launch")
    return sorted(f[:-3] for f in os.listdir(launch) if f.endswith(".py") and not f.startswith("_"))


def run_commands(name, zone, project, stage, stage_args, run_name, worker, env, follow, remote_dir, venv,
                 allow_local_paths=False, internal_ip=False):
    if not stage:
        raise UsageError("run needs --stage (one of: " + ", ".join(_stage_names()) + ")")
    if stage not in _stage_names():
        raise UsageError(f"--stage={stage!r} is not a script under launch/ (known: {', '.join(_stage_names())})")
    if worker != "all" and not worker.isdigit():
        raise UsageError(f"--worker={worker!r} must be `all` or a worker index")
    if worker == "all" and stage not in MULTIHOST_STAGES:
        raise UsageError(f"--stage={stage} is a single-host stage; running it on every worker would duplicate its "
                         "writes; pass --worker=0")
    _check_stage_flags(stage_args, allow_local_paths)
    run_name = run_name or stage
    if not _SAFE_RELPATH.match(run_name) or "/" in run_name:
        raise UsageError(f"--run_name={run_name!r} must be a plain file name")
    assignments = ["ACECODER_MULTIHOST=1"] if worker == "all" else []
    for item in env:
        key, sep, value = item.partition("=")
        if not sep or not _ENV_KEY.match(key):
            raise UsageError(f"--env={item!r} must look like KEY=VALUE")
        assignments.append(f"{key}={shlex.quote(value)}")
    log, pid = _paths(run_name)
    command = " ".join(["nohup", "setsid", "env", *assignments, f'"{_home(venv)}/bin/python"',
                        shlex.quote(f"launch/{stage}.py"), *map(shlex.quote, stage_args)])
    script = "\n".join([
        "set -euo pipefail",
        f'mkdir -p "$(dirname "{log}")"',
        f'if [ -f "{pid}" ] && kill -0 "$(cat "{pid}")" 2>/dev/null; then',
        f'  echo "run {run_name} is still running (pid $(cat "{pid}")); stop it first" >&2; exit 1',
        "fi",
        f'cd "{_home(remote_dir)}"',
        f'{command} > "{log}" 2>&1 < /dev/null &',
        f'echo $! > "{pid}"',
        f'echo "started {run_name} on $(hostname) as pid $(cat "{pid}")"',
    ])
    commands = [ssh(name, zone, project, worker, script, internal_ip)]
    if follow:
        commands += logs_commands(name, zone, project, run_name, 0 if worker == "all" else int(worker), internal_ip)
    return commands


def logs_commands(name, zone, project, run_name, log_worker, internal_ip=False):
    if not run_name:
        raise UsageError("logs needs --run_name (the stage name unless run was given one)")
    if log_worker < 0:
        raise UsageError(f"--log_worker={log_worker} must be a worker index >= 0")
    log, pid = _paths(run_name)
    script = f'tail -n +1 -F "{log}" --pid="$(cat "{pid}")"'
    return [ssh(name, zone, project, str(log_worker), script, internal_ip)]


def stop_commands(name, zone, project, run_name, internal_ip=False):
    if not run_name:
        raise UsageError("stop needs --run_name (the stage name unless run was given one)")
    _, pid = _paths(run_name)
    script = "\n".join([
        f'if [ -f "{pid}" ] && kill -0 "$(cat "{pid}")" 2>/dev/null; then',
        f'  group="$(cat "{pid}")"; kill -TERM -- "-$group"',
        '  for _ in $(seq 50); do kill -0 -- "-$group" 2>/dev/null || break; sleep 0.2; done',
        '  kill -KILL -- "-$group" 2>/dev/null || true',
        "fi",
        f'rm -f "{pid}"',
        # A killed TPU process can leave the runtime's lock behind and block the next run.
        "sudo rm -f /tmp/libtpu_lockfile || true",
    ])
    return [ssh(name, zone, project, "all", script, internal_ip)]


def delete_commands(name, zone, project):
    return [["gcloud", "compute", "tpus", "tpu-vm", "delete", name, *_location(zone, project), "--quiet"]]


def build(subcommand: str, stage_args: list[str]) -> list[list[str]]:
    """The commands for one invocation, from the parsed flags."""
    if subcommand not in SUBCOMMANDS:
        raise UsageError(f"unknown subcommand {subcommand!r}; use one of: {', '.join(SUBCOMMANDS)}")
    for flag in (NAME, ZONE):
        if not flag.value:
            raise UsageError(f"--{flag.name} is required")
    if not _SAFE_NAME.match(NAME.value):
        raise UsageError(f"--name={NAME.value!r}: lower-case letters, digits and '-', starting with a letter")
    if stage_args and subcommand != "run":
        raise UsageError(f"unexpected arguments for {subcommand}: {stage_args}")
    name, zone, project = NAME.value, ZONE.value, PROJECT.value
    if subcommand == "create":
        if not ACCELERATOR.value:
            raise UsageError("create needs --accelerator_type, e.g. v5p-64 or v4-32")
        return create_commands(name, zone, project, ACCELERATOR.value, VERSION.value, SPOT.value, PREEMPTIBLE.value,
                               SERVICE_ACCOUNT.value)
    if subcommand == "setup":
        return setup_commands(name, zone, project, SOURCE.value, REPO_URL.value, REF.value, EXTRAS.value,
                              PIP_ARGS.value, REMOTE_DIR.value, VENV.value, INTERNAL_IP.value)
    if subcommand == "run":
        return run_commands(name, zone, project, STAGE.value, stage_args, RUN_NAME.value, WORKER.value, ENV.value,
                            FOLLOW.value, REMOTE_DIR.value, VENV.value, ALLOW_LOCAL_PATHS.value, INTERNAL_IP.value)
    if subcommand == "logs":
        return logs_commands(name, zone, project, RUN_NAME.value or STAGE.value or "", LOG_WORKER.value,
                             INTERNAL_IP.value)
    if subcommand == "stop":
        return stop_commands(name, zone, project, RUN_NAME.value or STAGE.value or "", INTERNAL_IP.value)
    return delete_commands(name, zone, project)


def execute(commands: list[list[str]], dry_run: bool) -> None:
    """Print each command as one shell line; run them in order unless dry_run."""
    for argv in commands:
        print(shlex.join(argv), flush=True)
        if dry_run:
            continue
        if shutil.which(argv[0]) is None:
            raise SystemExit(f"error: {argv[0]!r} is not on PATH (install the Google Cloud CLI, or use --dry_run)")
        code = subprocess.run(argv).returncode
        if code != 0:
            raise SystemExit(f"error: command failed with exit status {code}: {shlex.join(argv)}")


def main(argv):
    if len(argv) < 2:
        raise app.UsageError(f"give a subcommand: {' | '.join(SUBCOMMANDS)}")
    try:
        commands = build(argv[1], argv[2:])
    except UsageError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    execute(commands, DRY_RUN.value)
    return 0


if __name__ == "__main__":
    app.run(main)
