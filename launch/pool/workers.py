"""Pools of CPU VMs that run sandbox workers against a gs:// work queue.

  python launch/pool/workers.py create --pool=ace-exec --num_vms=8 --zone=us-central1-a \
      --queue=gs://B/queue --source=git --repo_url=https://github.com/ORG/acecoder-jax --ref=main
  python launch/pool/workers.py script --pool=ace-exec --queue=gs://B/queue ...   # print the startup script
  python launch/pool/workers.py list|logs|stop|start|delete --pool=ace-exec --num_vms=8 --zone=us-central1-a

Each VM boots a startup script that installs only what sandbox_workers needs (the project without
its dependencies, plus fsspec and gcsfs: no JAX) and runs `python -m sandbox_workers.worker` as a
systemd unit that restarts on failure, with one sandbox slot per core unless --workers_per_vm says
otherwise. It runs as root, which buys the sandbox's uid drop and namespaces (docs/sandbox.md).
Producers point `--config.execution.backend=queue --config.execution.uri=` at the same gs:// queue. Every subcommand takes
--dry_run: print the exact commands (and the startup script) instead of running them.
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
SUBCOMMANDS = ("script", "create", "start", "stop", "delete", "list", "logs")
SERVICE = "acecoder-sandbox"
APP_DIR = "/opt/acecoder"

POOL = flags.DEFINE_string("pool", None, "Pool name: VMs are POOL-0 .. POOL-(N-1), labelled acecoder-pool=POOL.")
NUM_VMS = flags.DEFINE_integer("num_vms", 1, "Number of CPU VMs in the pool.")
ZONE = flags.DEFINE_string("zone", None, "Zone of the VMs, e.g. us-central1-a.")
PROJECT = flags.DEFINE_string("project", "", "GCP project (default: gcloud's configured project).")
DRY_RUN = flags.DEFINE_bool("dry_run", False, "Print the exact commands (and startup script) instead of running them.")
QUEUE = flags.DEFINE_string("queue", None, "create/script: gs://bucket/prefix of the work queue.")
WORKERS_PER_VM = flags.DEFINE_integer("workers_per_vm", 0, "Sandbox slots per VM; 0 = one per core (nproc).")
LEASE_TTL = flags.DEFINE_float("lease_ttl", 0.0, "Worker --lease-ttl in seconds; 0 = the worker's default.")
HEARTBEAT = flags.DEFINE_float("heartbeat", 0.0, "Worker --heartbeat in seconds; 0 = the worker's default.")
MACHINE_TYPE = flags.DEFINE_string("machine_type", "n2-standard-16", "create: VM machine type.")
IMAGE_FAMILY = flags.DEFINE_string("image_family", "debian-12", "create: boot image family (Python >= 3.10).")
IMAGE_PROJECT = flags.DEFINE_string("image_project", "debian-cloud", "create: project of the image family.")
BOOT_DISK_GB = flags.DEFINE_integer("boot_disk_gb", 20, "create: boot disk size in GB.")
SPOT = flags.DEFINE_bool("spot", False, "create: spot VMs (preemptible; the queue re-leases their shards).")
SERVICE_ACCOUNT = flags.DEFINE_string("service_account", "", "create: service account with access to the queue.")
SOURCE = flags.DEFINE_enum("source", "gcs", ["gcs", "git"],
                           "create/script: gcs = `git archive` of this checkout at --ref uploaded to --source_uri; "
                           "git = each VM clones --repo_url at --ref.")
SOURCE_URI = flags.DEFINE_string("source_uri", "", "--source=gcs: gs:// object for the source archive "
                                 "(default: gs://<queue bucket>/acecoder-jax-src/<pool>.tar.gz).")
REPO_URL = flags.DEFINE_string("repo_url", "", "--source=git: repository URL the VMs can clone.")
REF = flags.DEFINE_string("ref", "HEAD", "Git ref to install (commit, tag or branch).")
VM = flags.DEFINE_integer("vm", 0, "logs: index of the VM whose worker log to stream.")

_POOL_NAME = re.compile(r"^[a-z]([-a-z0-9]{0,50}[a-z0-9])?$")
_BUCKET = re.compile(r"^[a-z0-9][a-z0-9._-]{1,61}[a-z0-9]$")
_PREFIX = re.compile(r"^[A-Za-z0-9._=-]+(/[A-Za-z0-9._=-]+)*$")  # also keeps the startup script free of quoting


class UsageError(ValueError):
    """A bad flag or argument; the message names it."""


def vm_names(pool: str, num_vms: int) -> list[str]:
    if num_vms < 1:
        raise UsageError(f"--num_vms={num_vms} must be at least 1")
    return [f"{pool}-{i}" for i in range(num_vms)]


def _location(zone: str, project: str) -> list[str]:
    return [f"--zone={zone}"] + ([f"--project={project}"] if project else [])


def _check_gs(flag: str, uri: str) -> str:
    if not uri or not uri.startswith("gs://"):
        raise UsageError(f"--{flag}={uri!r} must be a gs://bucket/prefix URI (workers on other VMs cannot "
                         "reach a local path)")
    bucket, _, prefix = uri[len("gs://"):].partition("/")
    if not _BUCKET.match(bucket):
        raise UsageError(f"--{flag}={uri!r}: bucket name {bucket!r} must be 3-63 lower-case letters, digits, "
                         "'.', '_' or '-', starting and ending with a letter or digit")
    if prefix.strip("/") and not _PREFIX.match(prefix.strip("/")):
        raise UsageError(f"--{flag}={uri!r}: object prefix {prefix!r} may use only letters, digits, '.', '_', "
                         "'=', '-' and '/'")
    return uri.rstrip("/")


def default_source_uri(queue: str, pool: str) -> str:
    """Beside the queue's bucket root, not under its prefix, so queue listings never see it."""
    bucket = _check_gs("queue", queue)[len("gs://"):].split("/")[0]
    return f"gs://{bucket}/acecoder-jax-src/{pool}.tar.gz"


def worker_command(queue: str, workers_per_vm: int, lease_ttl: float, heartbeat: float) -> str:
    """The unit's ExecStart line; ${WORKERS} is filled in by the startup script (nproc by default)."""
    queue = _check_gs("queue", queue)
    if workers_per_vm < 0:
        raise UsageError(f"--workers_per_vm={workers_per_vm} must be >= 0 (0 = one per core)")
    if lease_ttl < 0 or heartbeat < 0:
        raise UsageError("--lease_ttl and --heartbeat must be >= 0 (0 = the worker's default)")
    if lease_ttl and heartbeat and heartbeat * 2 > lease_ttl:
        raise UsageError(f"--heartbeat={heartbeat} must be at most half of --lease_ttl={lease_ttl}")
    argv = [f"{APP_DIR}/venv/bin/python", "-m", "sandbox_workers.worker", f"--queue={queue}", "--workers=${WORKERS}"]
    if lease_ttl:
        argv.append(f"--lease-ttl={lease_ttl:g}")
    if heartbeat:
        argv.append(f"--heartbeat={heartbeat:g}")
    return " ".join(argv)


def startup_script(pool: str, queue: str, workers_per_vm: int, source: str, ref: str, repo_url: str = "",
                   source_uri: str = "",
                   lease_ttl: float = 0.0, heartbeat: float = 0.0) -> str:
    """Bash run by every VM at each boot: install sandbox_workers only, then (re)start the unit."""
    exec_start = worker_command(queue, workers_per_vm, lease_ttl, heartbeat)
    if not ref:
        raise UsageError("--ref must name a git ref (commit, tag or branch)")
    if source == "git":
        if not repo_url:
            raise UsageError("--source=git needs --repo_url (a URL every VM can clone)")
        fetch = [
            f'if [ ! -d "$APP/src/.git" ]; then git clone -q {shlex.quote(repo_url)} "$APP/src"; fi',
            f'git -C "$APP/src" fetch -q {shlex.quote(repo_url)} {shlex.quote(ref)}',
            'git -C "$APP/src" checkout -q --detach FETCH_HEAD',
        ]
    elif source == "gcs":
        if repo_url:
            raise UsageError("--repo_url is only used with --source=git")
        uri = _check_gs("source_uri", source_uri or default_source_uri(queue, pool))
        fetch = [
            f'gcloud storage cp {uri} "$APP/src.tar.gz"',
            'rm -rf "$APP/src.new" && mkdir -p "$APP/src.new"',
            'tar -xzf "$APP/src.tar.gz" -C "$APP/src.new"',
            'rm -rf "$APP/src" && mv "$APP/src.new" "$APP/src"',
        ]
    else:
        raise UsageError(f"--source={source!r} must be gcs or git")
    workers = str(workers_per_vm) if workers_per_vm else "$(nproc)"
    lines = [
        "#!/bin/bash",
        f"# acecoder-jax sandbox worker of pool {pool}, queue {queue.rstrip('/')}.",
        f"# Installs sandbox_workers alone and runs it as the systemd unit {SERVICE}, which restarts on failure.",
        "# Reruns at every boot.",
        "set -euo pipefail",
        f"APP={APP_DIR}",
        f"WORKERS={workers}",
        "export DEBIAN_FRONTEND=noninteractive",
        'if ! command -v git >/dev/null || ! python3 -c "import ensurepip" 2>/dev/null; then',
        "  apt-get update -q && apt-get install -y -q git python3-venv",
        "fi",
        'mkdir -p "$APP"',
        *fetch,
        '[ -x "$APP/venv/bin/python" ] || python3 -m venv "$APP/venv"',
        '"$APP/venv/bin/pip" install -q --upgrade pip',
        '"$APP/venv/bin/pip" install -q --force-reinstall "$APP/src/sandbox_workers"',  # no JAX
        '"$APP/venv/bin/python" -c "import sandbox_workers.worker"',
        f"cat > /etc/systemd/system/{SERVICE}.service <<UNIT",
        "[Unit]",
        "Description=acecoder-jax sandbox workers",
        "After=network-online.target",
        "Wants=network-online.target",
        "[Service]",
        f"ExecStart={exec_start}",
        "Restart=always",
        "RestartSec=5",
        "Environment=PYTHONUNBUFFERED=1",
        "LimitNOFILE=65536",
        "[Install]",
        "WantedBy=multi-user.target",
        "UNIT",
        "systemctl daemon-reload",
        f"systemctl enable {SERVICE}.service",
        f"systemctl restart {SERVICE}.service",
    ]
    return "\n".join(lines) + "\n"


def create_commands(pool, num_vms, zone, project, script_path, machine_type, image_family, image_project, boot_disk_gb,
                    spot, service_account, source, source_uri, queue, ref):
    names = vm_names(pool, num_vms)
    if boot_disk_gb < 10:
        raise UsageError(f"--boot_disk_gb={boot_disk_gb} must be at least 10")
    commands = []
    if source == "gcs":
        archive = os.path.join(tempfile.gettempdir(), f"acecoder-jax-{pool}.tar.gz")
        uri = _check_gs("source_uri", source_uri or default_source_uri(queue, pool))
        commands.append(["git", "-C", REPO_ROOT, "archive", "--format=tar.gz", f"--output={archive}", ref])
        commands.append(["gcloud", "storage", "cp", archive, uri])
    argv = ["gcloud", "compute", "instances", "create", *names, *_location(zone, project),
            f"--machine-type={machine_type}", f"--image-family={image_family}", f"--image-project={image_project}",
            f"--boot-disk-size={boot_disk_gb}GB", f"--labels=acecoder-pool={pool}",
            f"--metadata-from-file=startup-script={script_path}",
            "--scopes=https://www.googleapis.com/auth/cloud-platform"]
    if service_account:
        argv.append(f"--service-account={service_account}")
    if spot:
        argv += ["--provisioning-model=SPOT", "--instance-termination-action=STOP"]
    commands.append(argv)
    return commands


def build(subcommand: str, extra: list[str]) -> tuple[list[list[str]], str | None, str | None]:
    """(commands, startup script or None, path the script is written to) for one invocation."""
    if subcommand not in SUBCOMMANDS:
        raise UsageError(f"unknown subcommand {subcommand!r}; use one of: {', '.join(SUBCOMMANDS)}")
    if extra:
        raise UsageError(f"unexpected arguments: {extra}")
    if not POOL.value or not _POOL_NAME.match(POOL.value):
        raise UsageError(f"--pool={POOL.value!r} is required: lower-case letters, digits and '-', starting with a "
                         "letter, at most 52 characters")
    pool = POOL.value
    if subcommand in ("script", "create"):
        if not QUEUE.value:
            raise UsageError(f"{subcommand} needs --queue=gs://bucket/prefix")
        script = startup_script(pool, QUEUE.value, WORKERS_PER_VM.value, SOURCE.value, REF.value, REPO_URL.value,
                                SOURCE_URI.value, LEASE_TTL.value, HEARTBEAT.value)
        if subcommand == "script":
            return [], script, None
    if not ZONE.value:
        raise UsageError("--zone is required")
    zone, project = ZONE.value, PROJECT.value
    names = vm_names(pool, NUM_VMS.value)
    if subcommand == "create":
        path = os.path.join(tempfile.gettempdir(), f"acecoder-pool-{pool}-startup.sh")
        return create_commands(pool, NUM_VMS.value, zone, project, path, MACHINE_TYPE.value, IMAGE_FAMILY.value,
                               IMAGE_PROJECT.value, BOOT_DISK_GB.value, SPOT.value, SERVICE_ACCOUNT.value,
                               SOURCE.value, SOURCE_URI.value, QUEUE.value, REF.value), script, path
    if subcommand == "list":
        return [["gcloud", "compute", "instances", "list", f"--filter=labels.acecoder-pool={pool}",
                 f"--zones={zone}"] + ([f"--project={project}"] if project else [])], None, None
    if subcommand == "logs":
        if not 0 <= VM.value < len(names):
            raise UsageError(f"--vm={VM.value} is not in 0..{len(names) - 1}")
        return [["gcloud", "compute", "ssh", names[VM.value], *_location(zone, project),
                 f"--command=sudo journalctl -u {SERVICE} -f -n 200"]], None, None
    tail = ["--quiet"] if subcommand == "delete" else []
    return [["gcloud", "compute", "instances", subcommand, *names, *_location(zone, project), *tail]], None, None


def main(argv):
    if len(argv) < 2:
        raise app.UsageError(f"give a subcommand: {' | '.join(SUBCOMMANDS)}")
    try:
        commands, script, path = build(argv[1], argv[2:])
    except UsageError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    if argv[1] == "script":
        sys.stdout.write(script)
        return 0
    if script is not None:
        if DRY_RUN.value:
            print(f"# startup script, written to {path}:")
            print("\n".join("#| " + line for line in script.splitlines()))
        else:
            with open(path, "w") as f:
                f.write(script)
    for command in commands:
        print(shlex.join(command), flush=True)
        if DRY_RUN.value:
            continue
        if shutil.which(command[0]) is None:
            raise SystemExit(f"error: {command[0]!r} is not on PATH (install the Google Cloud CLI, or use --dry_run)")
        code = subprocess.run(command).returncode
        if code != 0:
            raise SystemExit(f"error: command failed with exit status {code}: {shlex.join(command)}")
    return 0


if __name__ == "__main__":
    app.run(main)
