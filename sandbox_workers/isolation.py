"""Kernel-level confinement for the zygote (once) and each sandbox child (per program).

Zygote, when root: private mount namespace (tmpfs over /tmp, /var/tmp, /dev/shm, /run/lock;
/proc remounted with hidepid=2 so other users' processes are invisible) and a network namespace
with only a downed loopback. Not root: an unprivileged user + network namespace where the kernel
allows it, otherwise none (see docs/sandbox.md). Zygote, always: its own session, default signal
dispositions, a scrubbed environment. Child: its own process group, parent-death signal, rlimits
with hard == soft, private cwd/HOME/TMPDIR, and, when root, a per-slot unprivileged uid/gid with
no supplementary groups; no_new_privs.
"""
from __future__ import annotations

import ctypes
import os
import resource
import signal
import sys

CLONE_NEWNS = 0x00020000
CLONE_NEWUSER = 0x10000000
CLONE_NEWNET = 0x40000000
MS_REC = 0x4000
MS_PRIVATE = 1 << 18
MS_NOSUID = 2
MS_NODEV = 4
PR_SET_PDEATHSIG = 1
PR_SET_NO_NEW_PRIVS = 38
SANDBOX_UID_BASE = 61000  # slot k runs programs as uid/gid SANDBOX_UID_BASE + k when root

_libc = ctypes.CDLL(None, use_errno=True)

# World-writable places a dropped uid could otherwise write to; shadowed by root-owned tmpfs.
_SHADOWED_DIRS = ("/var/tmp", "/dev/shm", "/run/lock", "/var/lock")
CHILD_ENV = {
    "PATH": "/usr/local/bin:/usr/bin:/bin",
    "LANG": "C.UTF-8",
    "LC_ALL": "C.UTF-8",
    "PYTHONDONTWRITEBYTECODE": "1",
    "OMP_NUM_THREADS": "1",
    "OPENBLAS_NUM_THREADS": "1",
    "MKL_NUM_THREADS": "1",
    "NUMEXPR_NUM_THREADS": "1",
}


def _check(rc: int, what: str) -> None:
    if rc != 0:
        err = ctypes.get_errno()
        raise OSError(err, f"{what}: {os.strerror(err)}")


def _mount(source: str, target: str, fstype: str | None, flags: int, data: str | None) -> None:
    _check(_libc.mount(source.encode(), target.encode(), fstype.encode() if fstype else None,
                       ctypes.c_ulong(flags), data.encode() if data else None), f"mount {target}")


MS_BIND = 4096
_PATH_MOUNT = "/srv"  # shadowed by a tmpfs inside the zygote's private mount namespace


def _world_readable(path: str) -> bool:
    path = os.path.abspath(path)
    while True:
        try:
            mode = os.stat(path).st_mode
        except OSError:
            return False
        if not mode & 0o001:
            return False
        parent = os.path.dirname(path)
        if parent == path:
            return True
        path = parent


def _expose_import_paths() -> dict:
    """Bind import directories a dropped uid cannot reach (e.g. Python under /root) to /srv/pN."""
    hidden = [p for p in sys.path if p and os.path.isdir(p) and not _world_readable(p)]
    if not hidden:
        return {}
    _mount("tmpfs", _PATH_MOUNT, "tmpfs", MS_NOSUID | MS_NODEV, "mode=0755,size=1m")
    mapping = {}
    for i, path in enumerate(hidden):
        target = os.path.join(_PATH_MOUNT, f"p{i}")
        os.mkdir(target, 0o755)
        _mount(path, target, None, MS_BIND | MS_REC, None)
        mapping[path] = target
    return mapping


def setup_zygote_namespaces() -> dict:
    """Confine the zygote (and so every child it forks); return which protections hold."""
    report = {"root": os.geteuid() == 0, "netns": False, "mountns": False, "hidepid": False,
              "uid_drop": os.geteuid() == 0, "sandbox_root": None}
    if report["root"]:
        try:
            _check(_libc.unshare(CLONE_NEWNET), "unshare(CLONE_NEWNET)")
            report["netns"] = True
        except OSError as e:
            report["netns_error"] = str(e)
        try:
            _check(_libc.unshare(CLONE_NEWNS), "unshare(CLONE_NEWNS)")
            _mount("none", "/", None, MS_REC | MS_PRIVATE, None)
            _mount("tmpfs", "/tmp", "tmpfs", MS_NOSUID | MS_NODEV, "mode=0711,size=512m,nr_inodes=65536")
            for path in _SHADOWED_DIRS:
                if os.path.isdir(path) and not os.path.islink(path):
                    _mount("tmpfs", path, "tmpfs", MS_NOSUID | MS_NODEV, "mode=0755,size=1m")
            report["mountns"] = True
            try:
                _mount("proc", "/proc", "proc", MS_NOSUID | MS_NODEV, "hidepid=2")
                report["hidepid"] = True
            except OSError as e:
                report["hidepid_error"] = str(e)
            report["path_map"] = _expose_import_paths()
            root = "/tmp/sbx"
            os.makedirs(root, mode=0o711, exist_ok=True)
            report["sandbox_root"] = root
        except OSError as e:
            report["mountns_error"] = str(e)
    else:
        uid, gid = os.getuid(), os.getgid()
        try:
            _check(_libc.unshare(CLONE_NEWUSER | CLONE_NEWNET), "unshare(CLONE_NEWUSER|CLONE_NEWNET)")
            with open("/proc/self/setgroups", "w") as f:
                f.write("deny")
            with open("/proc/self/uid_map", "w") as f:
                f.write(f"{uid} {uid} 1")
            with open("/proc/self/gid_map", "w") as f:
                f.write(f"{gid} {gid} 1")
            report["netns"] = True
        except OSError as e:
            report["netns_error"] = str(e)
    if report["sandbox_root"] is None:
        report["sandbox_root"] = _private_dir(os.environ.get("TMPDIR") or "/tmp", "sbx-")
    return report


def _private_dir(parent: str, prefix: str) -> str:
    """A new 0700 directory under `parent` (tempfile.mkdtemp without importing tempfile, which
    would pull compression modules into every child)."""
    for _ in range(100):
        path = os.path.join(parent, prefix + os.urandom(6).hex())
        try:
            os.mkdir(path, 0o700)
            return path
        except FileExistsError:
            continue
    raise FileExistsError(f"no free directory name under {parent}")


def _hard_caps() -> dict:
    caps = {}
    for which in _LIMITED:
        _, hard = resource.getrlimit(which)
        caps[which] = hard
    return caps


_LIMITED = (resource.RLIMIT_AS, resource.RLIMIT_CPU, resource.RLIMIT_FSIZE, resource.RLIMIT_NOFILE,
            resource.RLIMIT_CORE, resource.RLIMIT_NPROC) + (
            (resource.RLIMIT_MEMLOCK,) if hasattr(resource, "RLIMIT_MEMLOCK") else ())


def set_limits(memory_mb: int, cpu_s: int, file_mb: int, max_files: int = 64,
               hard_caps: dict | None = None) -> None:
    """Apply rlimits with hard == soft so the program cannot raise them back.

    `hard_caps` (the current hard limits, as _hard_caps() reads them) saves a child the reads
    when its zygote already made them; a limit is never set above its hard cap.
    """
    values = (memory_mb * 1024 * 1024, cpu_s, file_mb * 1024 * 1024, max_files, 0,
              1,  # RLIMIT_NPROC counts threads too: no new processes or threads
              0)
    caps = hard_caps or _hard_caps()
    for which, value in zip(_LIMITED, values):
        hard = caps[which]
        if hard != resource.RLIM_INFINITY:
            value = min(value, hard)
        resource.setrlimit(which, (value, value))


_prepared: tuple[int, str | None] | None = None  # (pid, workdir) of a prepared zygote
_prepared_caps: dict | None = None
_prctl = _libc.prctl
_prctl.argtypes = (ctypes.c_int, ctypes.c_ulong, ctypes.c_ulong, ctypes.c_ulong, ctypes.c_ulong)


def prepare_zygote_process(workdir: str | None = None, path_map: dict | None = None) -> None:
    """Per-process state every child would otherwise set itself, done once in the zygote.

    A new session here (not per child: with scheduler autogroups, setsid costs about a
    millisecond) detaches the zygote and all its children from any controlling terminal; a child
    is never a session leader, so it cannot acquire one. Children inherit the signal
    dispositions, the scrubbed environment (HOME/TMPDIR = `workdir`, the one path each child's
    fresh private directory is created at) and the import path rewritten through `path_map`.
    """
    global _prepared, _prepared_caps
    try:
        os.setsid()
    except PermissionError:  # already a session leader
        pass
    for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP, signal.SIGPIPE):
        signal.signal(sig, signal.SIG_DFL)
    signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # oversized writes raise OSError instead
    os.environ.clear()
    os.environ.update(CHILD_ENV)
    if workdir is not None:
        os.environ.update(HOME=workdir, TMPDIR=workdir)
        if "tempfile" in sys.modules:  # already imported: its cached default must follow TMPDIR
            sys.modules["tempfile"].tempdir = workdir
    if path_map:
        sys.path[:] = [path_map.get(p, p) for p in sys.path]
        sys.path_importer_cache.clear()
    # Inherited by every child and irrevocable; the zygote itself never execs.
    _check(_prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0), "prctl(PR_SET_NO_NEW_PRIVS)")
    _prepared_caps = _hard_caps()
    _prepared = (os.getpid(), workdir)


def confine_child(*, workdir: str, uid: int | None, parent_pid: int, memory_mb: int, cpu_s: int,
                  file_mb: int, path_map: dict | None = None, prepared_by: int | None = None) -> None:
    """Run in the freshly forked child before any untrusted code; raises on failure.

    `parent_pid` is the process the child must die with (checked after arming the death
    signal); `prepared_by` the process it was forked from, `parent_pid` unless the child was
    cloned as a sibling. When that process is a zygote prepared for this `workdir`, only the
    per-child steps run; otherwise the child prepares itself first (and so gets a session of
    its own).
    """
    if _prepared == (parent_pid if prepared_by is None else prepared_by, workdir):
        os.setpgid(0, 0)  # its own process group, killed as a whole; the session is the zygote's
    else:
        prepare_zygote_process(workdir, path_map)
    _check(_prctl(PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0), "prctl(PR_SET_PDEATHSIG)")
    if os.getppid() != parent_pid:
        os._exit(70)
    os.chdir(workdir)
    set_limits(memory_mb, cpu_s, file_mb, hard_caps=_prepared_caps)
    if uid is not None:
        os.setgroups([])
        os.setresgid(uid, uid, uid)
        os.setresuid(uid, uid, uid)


def confine_judge(memory_mb: int) -> None:
    """The judge evaluates test expressions on values the program chose: bound its memory (a
    MemoryError is a test error, not a host problem) and keep it from gaining privileges."""
    limit = memory_mb * 1024 * 1024
    resource.setrlimit(resource.RLIMIT_AS, (limit, limit))
    resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
    _check(_prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0), "prctl(PR_SET_NO_NEW_PRIVS)")
