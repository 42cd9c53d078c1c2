"""Run a command as an unprivileged user (nobody), from a root test run.

The interpreter and this repository may sit under directories only root can enter (pyenv under
/root): in a private mount namespace each such directory is covered by an empty world-readable
tmpfs holding, at the same paths, just the subtrees the command needs. Nothing on the host
changes; the command sees the same paths.
"""
from __future__ import annotations

import ctypes
import os
import site
import subprocess
import sys
import sysconfig

NOBODY = 65534
_libc = ctypes.CDLL(None, use_errno=True)


def _check(rc, what):
    if rc != 0:
        err = ctypes.get_errno()
        raise OSError(err, f"{what}: {os.strerror(err)}")


def _mount(source, target, fstype, flags, data=None):
    _check(_libc.mount(source.encode(), target.encode(), fstype.encode() if fstype else None,
                       ctypes.c_ulong(flags), data.encode() if data else None), f"mount {target}")


def _blocked(path: str) -> str | None:
    """The first ancestor of `path` that others cannot enter, or None."""
    parts = os.path.abspath(path).split("/")
    for i in range(2, len(parts) + 1):
        ancestor = "/".join(parts[:i])
        try:
            if not os.stat(ancestor).st_mode & 0o001:
                return ancestor
        except OSError:
            return None
    return None


def needed_paths(repo: str) -> list[str]:
    paths = [repo, sys.prefix, sys.base_prefix, sysconfig.get_paths()["stdlib"],
             os.path.dirname(os.path.realpath(sys.executable))]
    paths += [p for p in site.getsitepackages() if os.path.isdir(p)]
    return list(dict.fromkeys(os.path.realpath(p) for p in paths))


def _expose(paths: list[str]) -> None:
    """In this (private) mount namespace: make every path reachable for others."""
    MS_BIND, MS_REC, MS_PRIVATE = 4096, 0x4000, 1 << 18
    _mount("none", "/", None, MS_REC | MS_PRIVATE)
    groups: dict[str, set[str]] = {}
    for path in paths:
        blocked = _blocked(path)
        if blocked:
            child = path[len(blocked):].lstrip("/").split("/")[0]
            groups.setdefault(blocked, set()).add(child)
    for blocked, children in groups.items():
        stash = f"/tmp/.unprivileged-{os.getpid()}-{len(children)}"
        os.makedirs(stash, exist_ok=True)
        saved = []
        for i, child in enumerate(sorted(children)):
            target = f"{stash}/{i}"
            source = os.path.join(blocked, child)
            if os.path.isdir(source):
                os.makedirs(target, exist_ok=True)
            else:
                open(target, "a").close()
            _mount(source, target, None, MS_BIND | MS_REC)
            saved.append((child, target, os.path.isdir(source)))
        _mount("tmpfs", blocked, "tmpfs", 0, "mode=0755")
        for child, target, is_dir in saved:
            destination = os.path.join(blocked, child)
            if is_dir:
                os.makedirs(destination, exist_ok=True)
            else:
                open(destination, "a").close()
            _mount(target, destination, None, MS_BIND | MS_REC)


def run_as_nobody(argv: list[str], *, cwd: str, env: dict, timeout: float) -> subprocess.CompletedProcess:
    """Run argv as uid/gid 65534 with no supplementary groups (the caller must be root)."""
    paths = needed_paths(cwd)

    def become_nobody():
        _check(_libc.unshare(0x00020000), "unshare(CLONE_NEWNS)")
        _expose(paths)
        os.setgroups([])
        os.setresgid(NOBODY, NOBODY, NOBODY)
        os.setresuid(NOBODY, NOBODY, NOBODY)

    return subprocess.run(argv, cwd=cwd, env=env, preexec_fn=become_nobody, capture_output=True,
                          text=True, timeout=timeout)
