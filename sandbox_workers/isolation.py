"""Kernel-level confinement: of the zygote once (and so of every child), of each child, of the judge.

Levels, strongest first (the report says which one a slot got, and what is missing from "full"):

- full (root): the zygote gets private mount, network and IPC namespaces and pivots into the
  minimal read-only root of rootfs.py; each program is cloned into its own PID and IPC
  namespaces (killing it ends everything it started: setsid, double forks, cleared death
  signals change nothing), runs as a uid unique to its slot and pool with no supplementary
  groups, in a fresh size-capped tmpfs (/sbx: home, tmp, shm) unmounted after it, inside the
  slot's memory cgroup (cgroups.py: memfd, tmpfs and page cache count against `memory_mb`).
- userns (no root, user namespaces allowed): the same namespaces and root from an unprivileged
  user namespace; children drop every capability but keep the worker's uid, and memory is
  bounded by RLIMIT_AS plus the tmpfs cap (no cgroup).
- landlock (no user namespaces): the zygote restricts itself with Landlock to reading the same
  view and writing its sandbox directory (no TCP, no signals or abstract sockets outside);
  programs are single-threaded (RLIMIT_NPROC 1) and the supervisor sweeps up escapees as
  their subreaper.
- none: rlimits, a private directory and the process group only.
Always: rlimits with hard == soft, a scrubbed environment, no_new_privs, stdin from /dev/null,
output to an unnamed size-limited file, parent-death signals.
"""
from __future__ import annotations

import ctypes
import os
import resource
import signal
import sys
import dataclasses
from dataclasses import dataclass

from sandbox_workers import landlock, rootfs

CLONE_NEWNS = 0x00020000
CLONE_NEWUTS = 0x04000000
CLONE_NEWIPC = 0x08000000
CLONE_NEWUSER = 0x10000000
CLONE_NEWPID = 0x20000000
CLONE_NEWNET = 0x40000000
PR_SET_PDEATHSIG = 1
PR_SET_NO_NEW_PRIVS = 38
PR_SET_CHILD_SUBREAPER = 36
# Root: slot uids are UID_BASE + the supervisor's pid, unique among the slots (of every pool) on
# this host while they live.
UID_BASE = 1_600_000_000
THREADS = 64           # RLIMIT_NPROC where programs run in their own PID namespace
TMPFS_INODES = 16384
LEVELS = ("full", "userns", "landlock", "none")
FORCE_LEVEL_ENV = "SANDBOX_FORCE_LEVEL"  # tests and debugging: a weaker level than the host allows

_libc = ctypes.CDLL(None, use_errno=True)
_prctl = _libc.prctl
_prctl.argtypes = (ctypes.c_int, ctypes.c_ulong, ctypes.c_ulong, ctypes.c_ulong, ctypes.c_ulong)

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


@dataclass(frozen=True)
class Confinement:
    """What every child of a zygote gets (the C clone loop takes it as a tuple)."""
    sandbox_dir: str   # the per-program area: a fresh tmpfs (fresh_tmpfs) or a directory
    home: str          # cwd and HOME; tmp and shm sit next to it
    uid: int           # uid/gid to become, -1 to keep
    clone_flags: int   # namespaces each child is cloned into
    drop_caps: bool    # clear every capability (children of a user namespace)
    fresh_tmpfs: bool
    oom_adjust: bool   # raise the child's OOM score (the zygote's is lowered)
    nproc: int
    seccomp: bytes = b""  # the filter program (seccomp_filter()), installed last
    # A Landlock domain of its own (scoped: no signals, no abstract sockets outside it), nested
    # in the zygote's: without it a child could signal the zygote, which shares its domain.
    landlock_scope: bool = False
    # Per-program steps for temp dirs of the root that hold part of the view (rootfs.build_root):
    # "T<dir>\n" mounts a fresh tmpfs on dir, "B<src>\t<dst>\n" binds a stashed view part below it.
    temp_dirs: bytes = b""

    def as_tuple(self) -> tuple:
        return (self.sandbox_dir, self.home, self.uid, self.clone_flags, int(self.drop_caps),
                int(self.fresh_tmpfs), int(self.oom_adjust), self.nproc, self.seccomp,
                int(self.landlock_scope), self.temp_dirs)


def _write(path: str, text: str) -> None:
    with open(path, "w") as f:
        f.write(text)


def _enter_user_namespace() -> None:
    uid, gid = os.getuid(), os.getgid()
    _check(_libc.unshare(CLONE_NEWUSER | CLONE_NEWNS | CLONE_NEWNET | CLONE_NEWIPC),
           "unshare(user, mount, network, ipc)")
    _write("/proc/self/setgroups", "deny")
    # The worker's ids map to themselves: children (capabilities dropped) are that plain user
    # inside too, not a uid 0 that setuid(0) would "succeed" for.
    _write("/proc/self/uid_map", f"{uid} {uid} 1")
    _write("/proc/self/gid_map", f"{gid} {gid} 1")


def setup_zygote(slot_uid: int | None, view: rootfs.View) -> tuple[dict, Confinement]:
    """Confine the zygote (and so every child it clones) as strongly as this host allows."""
    root = os.geteuid() == 0
    report = {"root": root, "packages": view.packages, "errors": {}}
    home = rootfs.SANDBOX_HOME
    forced = os.environ.pop(FORCE_LEVEL_ENV, "")
    if forced in ("landlock", "none"):  # tests: the weaker levels on a host that has namespaces
        report["errors"]["namespaces"] = f"skipped ({FORCE_LEVEL_ENV}={forced})"
        level, confinement = _landlock_fallback(view, report, forced == "none")
        report["level"], report["threads"] = level, confinement.nproc
        return report, confinement
    if forced == "userns":
        root = False
    try:
        if root:
            _check(_libc.unshare(CLONE_NEWNS | CLONE_NEWNET | CLONE_NEWIPC), "unshare(mount, network, ipc)")
        else:
            _enter_user_namespace()
        rootfs.mount("none", "/", None, rootfs.MS_REC | rootfs.MS_PRIVATE)
        temp_dirs = rootfs.build_root(view, uid=slot_uid if root else None, proc=root)
        level = "full" if root else "userns"
        confinement = Confinement(rootfs.SANDBOX_DIR, home, slot_uid if root else -1,
                                  CLONE_NEWPID | CLONE_NEWIPC, not root, True, root, THREADS,
                                  seccomp_filter(), temp_dirs=temp_dirs)
        report.update(filesystem="minimal read-only root (mount namespace, pivot_root)",
                      network="none (private network namespace)",
                      processes="own PID namespace per program", ipc="private per program",
                      uid=f"per slot: {slot_uid}" if root else "the worker's (capabilities dropped)",
                      tmp="fresh tmpfs per program")
    except OSError as e:
        report["errors"]["namespaces"] = str(e)
        level, confinement = _landlock_fallback(view, report)
    report["level"] = level
    report["threads"] = confinement.nproc
    return report, confinement


def _landlock_fallback(view: rootfs.View, report: dict, skip: bool = False) -> tuple[str, Confinement]:
    sandbox_dir = _private_dir(os.environ.get("TMPDIR") or "/tmp", "sbx-")
    home = os.path.join(sandbox_dir, "home")
    report["sandbox_dir"] = sandbox_dir  # removed by the supervisor when the slot closes
    report.update(filesystem="host", network="host", processes="process group + subreaper sweep",
                  ipc="none (SysV IPC and message queues denied by seccomp)", uid="the worker's",
                  tmp="directory per program")
    confinement = Confinement(sandbox_dir, home, -1, 0, False, False, False, 1, seccomp_filter(deny_ipc=True))
    try:
        if skip:
            raise OSError(f"skipped ({FORCE_LEVEL_ENV}=none)")
        readable, listable = view.landlock_paths()
        readable += ["/dev/null", "/dev/zero", "/dev/urandom", "/dev/random"]
        _check(_prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0), "prctl(PR_SET_NO_NEW_PRIVS)")
        abi = landlock.restrict(readable, [sandbox_dir, "/dev/null"], list_paths=listable)
        _import_only_the_view(view)
        if abi >= 6:
            confinement = dataclasses.replace(confinement, landlock_scope=True)
        report.update(filesystem=f"read-only view (Landlock ABI {abi})",
                      network="TCP blocked (Landlock)" if abi >= 4 else "host")
        if abi >= 6:
            report["ipc"] += "; signals and abstract sockets scoped (Landlock)"
        return "landlock", confinement
    except OSError as e:
        report["errors"]["landlock"] = str(e)
        return "none", confinement


def _import_only_the_view(view: rootfs.View) -> None:
    """Landlock lets a site directory be listed but not its other packages read: imports must
    see such a package as absent (ImportError, which code probing optional dependencies
    expects), not as present and unreadable (PermissionError)."""
    import importlib.machinery
    from importlib import _bootstrap_external

    allowed = {site: {os.path.basename(e) for e in entries} for site, entries in view.site_dirs.items()}

    class ViewFinder(importlib.machinery.FileFinder):
        def _fill_cache(self):
            names = allowed.get(self.path)
            if names is None:
                return super()._fill_cache()
            self._path_cache = set(names)
            self._relaxed_path_cache = {n.lower() for n in names}

    sys.path_hooks.insert(0, ViewFinder.path_hook(*_bootstrap_external._get_supported_file_loaders()))
    sys.path_importer_cache.clear()


def missing_guarantees(report: dict) -> list[str]:
    """What this slot lacks against the full level (empty when full)."""
    missing = []
    level = report.get("level")
    if level != "full":
        missing.append("a uid of its own per slot" if level == "userns" else "namespaces (no root, "
                       "no user namespaces): filesystem, network, IPC and process isolation")
    if report.get("memory", "").startswith("address space"):
        missing.append("memory accounting of memfd/tmpfs/page cache (no memory cgroup)")
    if level in ("landlock", "none"):
        missing.append("threads (RLIMIT_NPROC 1 without a PID namespace)")
    if level == "none":
        missing.append("a read-only filesystem view (no Landlock)")
    return missing


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


_LIMITED = (resource.RLIMIT_AS, resource.RLIMIT_CPU, resource.RLIMIT_FSIZE, resource.RLIMIT_NOFILE,
            resource.RLIMIT_CORE, resource.RLIMIT_NPROC, resource.RLIMIT_MEMLOCK)


def set_limits(memory_mb: int, cpu_s: int, file_mb: int, nproc: int, max_files: int = 64) -> None:
    """Apply rlimits with hard == soft so the program cannot raise them back; never above a
    limit's current hard value."""
    values = (memory_mb * 1024 * 1024, cpu_s, file_mb * 1024 * 1024, max_files, 0, nproc, 0)
    for which, value in zip(_LIMITED, values):
        _, hard = resource.getrlimit(which)
        if hard != resource.RLIM_INFINITY:
            value = min(value, hard)
        resource.setrlimit(which, (value, value))


def prepare_zygote_process(confinement: Confinement) -> None:
    """Per-process state every child would otherwise set itself, done once in the zygote.

    A new session here (not per child: with scheduler autogroups, setsid costs about a
    millisecond) detaches the zygote and all its children from any controlling terminal; a child
    is never a session leader, so it cannot acquire one. Children inherit the signal
    dispositions, the scrubbed environment, an import path without directories the view lacks,
    and no_new_privs.
    """
    try:
        os.setsid()
    except PermissionError:  # already a session leader
        pass
    for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP, signal.SIGPIPE):
        signal.signal(sig, signal.SIG_DFL)
    signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # oversized writes raise OSError instead
    os.environ.clear()
    os.environ.update(CHILD_ENV)
    tmp = os.path.join(os.path.dirname(confinement.home), "tmp")
    os.environ.update(HOME=confinement.home, TMPDIR=tmp)
    if "tempfile" in sys.modules:  # already imported: its cached default must follow TMPDIR
        sys.modules["tempfile"].tempdir = tmp
    sys.path[:] = [p for p in sys.path if p and os.path.isdir(p)]
    sys.path_importer_cache.clear()
    if confinement.oom_adjust:
        try:
            _write("/proc/self/oom_score_adj", "-1000")  # the OOM killer picks the program
        except OSError:
            pass
    # Inherited by every child and irrevocable; the zygote itself never execs.
    _check(_prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0), "prctl(PR_SET_NO_NEW_PRIVS)")


def fresh_sandbox(confinement: Confinement, tmpfs_mb: int) -> None:
    """The per-program area for the next child (the Python clone loop; the C loop does the
    same): a new tmpfs (O(1) whatever the last program left), or emptied directories."""
    if confinement.fresh_tmpfs:
        base = confinement.sandbox_dir
        _libc.umount2(base.encode(), rootfs.MNT_DETACH)
        rootfs.mount("tmpfs", base, "tmpfs", rootfs.MS_NOSUID | rootfs.MS_NODEV,
                     f"size={tmpfs_mb}m,nr_inodes={TMPFS_INODES},mode=0755")
        rootfs.refresh_temp_dirs(confinement.temp_dirs, f"size={tmpfs_mb}m,nr_inodes={TMPFS_INODES},mode=1777")
    else:
        clear_area(confinement)
    for path in _area(confinement):
        os.mkdir(path, 0o700)
        if confinement.uid >= 0:
            os.chown(path, confinement.uid, confinement.uid)


def _area(confinement: Confinement) -> list[str]:
    parent = os.path.dirname(confinement.home)
    return [confinement.home, os.path.join(parent, "tmp"), os.path.join(parent, "shm")]


def clear_area(confinement: Confinement) -> None:
    """Remove what a program left in its directories (levels without a per-program tmpfs):
    iteratively and relative to directory fds, so no tree depth, path length or permission
    bits the program chose can stop it or crash the zygote."""
    for path in _area(confinement):
        try:
            os.rmdir(path)
            continue
        except FileNotFoundError:
            continue
        except OSError:
            pass
        parent = os.open(os.path.dirname(path), os.O_RDONLY | os.O_DIRECTORY)
        try:
            _remove_tree(parent, os.path.basename(path))
        finally:
            os.close(parent)


def remove_directory(path: str) -> None:
    """Remove a directory tree whatever its depth, names or permission bits."""
    parent = os.open(os.path.dirname(path.rstrip("/")) or "/", os.O_RDONLY | os.O_DIRECTORY)
    try:
        _remove_tree(parent, os.path.basename(path.rstrip("/")))
    except FileNotFoundError:
        pass
    finally:
        os.close(parent)


def _remove_tree(parent_fd: int, name: str) -> None:
    stack = [(parent_fd, name, None)]  # (dir fd of the parent, entry name, fd of the entry)
    while stack:
        dir_fd, entry, fd = stack[-1]
        if fd is None:
            try:
                os.chmod(entry, 0o700, dir_fd=dir_fd, follow_symlinks=False)
            except OSError:
                pass
            fd = os.open(entry, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW, dir_fd=dir_fd)
            stack[-1] = (dir_fd, entry, fd)
        pushed = False
        with os.scandir(fd) as entries:
            for item in entries:
                if item.is_dir(follow_symlinks=False):
                    stack.append((fd, item.name, None))
                    pushed = True
                    break
                try:
                    os.unlink(item.name, dir_fd=fd)
                except FileNotFoundError:
                    pass
        if pushed:
            continue
        os.close(fd)
        stack.pop()
        os.rmdir(entry, dir_fd=dir_fd)


def confine_child(confinement: Confinement, request: tuple, ctl_fd: int) -> None:
    """In the freshly cloned child, before any untrusted code (the Python clone loop; the C loop
    does the same steps): its own process group, death signal, cwd, rlimits, capabilities, uid."""
    import select
    memory_mb, cpu_s, file_mb, nproc, _ = request
    os.setpgid(0, 0)
    os.chdir(confinement.home)
    if confinement.oom_adjust:
        _write("/proc/self/oom_score_adj", "1000")
    set_limits(memory_mb, cpu_s, file_mb, nproc)
    if confinement.drop_caps:
        _drop_capabilities()
    if confinement.uid >= 0:
        os.setgroups([])
        os.setresgid(confinement.uid, confinement.uid, confinement.uid)
        os.setresuid(confinement.uid, confinement.uid, confinement.uid)
    # After the uid change, which clears it.
    _check(_prctl(PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0), "prctl(PR_SET_PDEATHSIG)")
    poller = select.poll()
    poller.register(ctl_fd, select.POLLRDHUP)
    if any(ev & (select.POLLHUP | select.POLLRDHUP | select.POLLERR) for _, ev in poller.poll(0)):
        os._exit(70)  # the supervisor died before the death signal was armed
    if confinement.landlock_scope:
        landlock.restrict(handled=0)
    install_seccomp(confinement.seccomp)


def _drop_capabilities() -> None:
    PR_CAPBSET_DROP, PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL = 24, 47, 4
    for cap in range(64):
        _prctl(PR_CAPBSET_DROP, cap, 0, 0, 0)
    _prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0)
    header = (ctypes.c_uint32 * 2)(0x20080522, 0)  # _LINUX_CAPABILITY_VERSION_3, this process
    data = (ctypes.c_uint32 * 6)()
    _check(_libc.capset(header, data), "capset")


def confine_judge(memory_mb: int) -> dict:
    """The judge evaluates test expressions on values the program chose: bound its memory (a
    MemoryError is a test error, not a host problem), keep it off the network and unable to
    write files or gain privileges."""
    limit = memory_mb * 1024 * 1024
    resource.setrlimit(resource.RLIMIT_AS, (limit, limit))
    resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
    report = {}
    if os.geteuid() == 0:
        try:
            _check(_libc.unshare(CLONE_NEWNET), "unshare(network)")
            report["network"] = "none"
        except OSError as e:
            report["network"] = str(e)
    _check(_prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0), "prctl(PR_SET_NO_NEW_PRIVS)")
    try:
        landlock.restrict(handled=landlock.WRITES)
        report["writes"] = "none (Landlock)"
    except OSError as e:
        report["writes"] = str(e)
    return report


def become_subreaper() -> None:
    """Orphans of the supervisor's children come back to it (so it can end escapees)."""
    _prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0)


# ---------------------------------------------------------------------------------------------
# Seccomp: syscalls no Python program needs and that reach past the namespaces (keyrings are
# not namespaced: keys a job leaves in its user keyring would be read by the slot's next job),
# or widen the kernel surface (user namespaces inside the sandbox, io_uring, bpf, perf).
# ---------------------------------------------------------------------------------------------

_SYSCALLS = {
    "x86_64": dict(arch=0xC000003E, add_key=248, request_key=249, keyctl=250, io_uring_setup=425,
                   io_uring_enter=426, io_uring_register=427, bpf=321, userfaultfd=323,
                   perf_event_open=298, unshare=272, setns=308, kexec_load=246,
                   kexec_file_load=320, init_module=175, finit_module=313, delete_module=176,
                   mount=165, umount2=166, pivot_root=155, open_tree=428, move_mount=429,
                   fsopen=430, fsconfig=431, fsmount=432, fspick=433, mount_setattr=442,
                   clone=56, clone3=435),
    "aarch64": dict(arch=0xC00000B7, add_key=217, request_key=218, keyctl=219, io_uring_setup=425,
                    io_uring_enter=426, io_uring_register=427, bpf=280, userfaultfd=282,
                    perf_event_open=241, unshare=97, setns=268, kexec_load=104,
                    kexec_file_load=294, init_module=105, finit_module=273, delete_module=106,
                    mount=40, umount2=39, pivot_root=41, open_tree=428, move_mount=429,
                    fsopen=430, fsconfig=431, fsmount=432, fspick=433, mount_setattr=442,
                    clone=220, clone3=435),
}
# Without an IPC namespace of its own (Landlock and weaker), a program gets no SysV IPC or POSIX
# message queues at all: their objects would outlive the job and be seen by the next one.
_IPC_SYSCALLS = {
    "x86_64": dict(shmget=29, shmat=30, shmctl=31, shmdt=67, semget=64, semop=65, semctl=66,
                   semtimedop=220, msgget=68, msgsnd=69, msgrcv=70, msgctl=71, mq_open=240,
                   mq_unlink=241, mq_timedsend=242, mq_timedreceive=243, mq_notify=244,
                   mq_getsetattr=245),
    "aarch64": dict(shmget=194, shmctl=195, shmat=196, shmdt=197, semget=190, semctl=191,
                    semtimedop=192, semop=193, msgget=186, msgctl=187, msgrcv=188, msgsnd=189,
                    mq_open=180, mq_unlink=181, mq_timedsend=182, mq_timedreceive=183,
                    mq_notify=184, mq_getsetattr=185),
}
_NAMESPACE_FLAGS = (CLONE_NEWNS | CLONE_NEWUTS | CLONE_NEWIPC | CLONE_NEWUSER | CLONE_NEWPID
                    | CLONE_NEWNET | 0x02000000)  # CLONE_NEWCGROUP


def seccomp_filter(deny_ipc: bool = False) -> bytes:
    """The children's seccomp program (struct sock_filter[]), or b"" on an unknown machine.
    Denied: EPERM; clone3: ENOSYS (libc falls back to clone, whose flags are checked: no new
    namespaces); another architecture's syscall ABI: the process is killed. `deny_ipc` also
    denies SysV IPC and POSIX message queues (levels without an IPC namespace per program)."""
    machine = os.uname().machine.lower()
    arch = {"amd64": "x86_64", "arm64": "aarch64"}.get(machine, machine)
    table = _SYSCALLS.get(arch)
    if table is None:
        return b""
    import struct
    LD, JEQ, JGE, JSET, RET = 0x20, 0x15, 0x35, 0x45, 0x06
    ALLOW, KILL, ERRNO = 0x7FFF0000, 0x80000000, 0x00050000
    denied = [table[name] for name in table if name not in ("arch", "clone", "clone3")]
    if deny_ipc:
        denied += list(_IPC_SYSCALLS[arch].values())
    # (code, k, jump-if-true label, jump-if-false label); labels resolve to relative offsets
    program: list = [(LD, 4, None, None), (JEQ, table["arch"], "nr", "kill")]
    program.append(("nr", LD, 0, None, None))
    if table is _SYSCALLS["x86_64"]:
        program.append((JGE, 0x40000000, "deny", None))  # the x32 ABI
    program += [(JEQ, nr, "deny", None) for nr in denied]
    program += [(JEQ, table["clone3"], "nosys", None), (JEQ, table["clone"], "clone", None),
                (RET, ALLOW, None, None),
                ("clone", LD, 16, None, None), (JSET, _NAMESPACE_FLAGS, "deny", None),
                (RET, ALLOW, None, None),
                ("deny", RET, ERRNO | 1, None, None), ("nosys", RET, ERRNO | 38, None, None),
                ("kill", RET, KILL, None, None)]
    labels, rows = {}, []
    for entry in program:
        if isinstance(entry[0], str):
            labels[entry[0]] = len(rows)
            entry = entry[1:]
        rows.append(entry)
    out = b""
    for i, (code, k, jt, jf) in enumerate(rows):
        offset = lambda label: 0 if label is None else labels[label] - i - 1  # noqa: E731
        out += struct.pack("=HBBI", code, offset(jt), offset(jf), k)
    return out


def install_seccomp(program: bytes) -> None:
    """prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, &{len, filter}) (needs no_new_privs)."""
    if not program:
        return

    class _Prog(ctypes.Structure):
        _fields_ = [("len", ctypes.c_ushort), ("filter", ctypes.c_void_p)]
    buf = ctypes.create_string_buffer(program, len(program))
    prog = _Prog(len(program) // 8, ctypes.cast(buf, ctypes.c_void_p))
    _check(_prctl(22, 2, ctypes.addressof(prog), 0, 0), "prctl(PR_SET_SECCOMP)")
