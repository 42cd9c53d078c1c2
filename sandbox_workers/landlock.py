"""Landlock (Linux >= 5.13): unprivileged, inherited restrictions on files, TCP and signals.

Where the sandbox cannot build its own root (no root and no user namespaces), the zygote
confines itself (and so every child) to reading the view of rootfs.plan_view and writing its
sandbox directory; with ABI 4 it also loses TCP bind/connect, with ABI 6 signals and abstract
unix sockets outside its domain. The judge uses it too: no writes anywhere, no TCP.
"""
from __future__ import annotations

import ctypes
import os
import struct

_SYS_CREATE, _SYS_ADD_RULE, _SYS_RESTRICT = 444, 445, 446  # the same on every architecture
_CREATE_RULESET_VERSION = 1
_RULE_PATH_BENEATH = 1

EXECUTE, WRITE_FILE, READ_FILE, READ_DIR = 1 << 0, 1 << 1, 1 << 2, 1 << 3
REMOVE_DIR, REMOVE_FILE, MAKE_CHAR, MAKE_DIR = 1 << 4, 1 << 5, 1 << 6, 1 << 7
MAKE_REG, MAKE_SOCK, MAKE_FIFO, MAKE_BLOCK, MAKE_SYM = 1 << 8, 1 << 9, 1 << 10, 1 << 11, 1 << 12
REFER, TRUNCATE, IOCTL_DEV = 1 << 13, 1 << 14, 1 << 15
NET_BIND_TCP, NET_CONNECT_TCP = 1 << 0, 1 << 1
SCOPE_ABSTRACT_UNIX, SCOPE_SIGNAL = 1 << 0, 1 << 1

_FS_BY_ABI = {1: (1 << 13) - 1, 2: (1 << 14) - 1, 3: (1 << 15) - 1, 4: (1 << 15) - 1,
              5: (1 << 16) - 1}
READ = EXECUTE | READ_FILE | READ_DIR
FILE_RIGHTS = EXECUTE | WRITE_FILE | READ_FILE | TRUNCATE | IOCTL_DEV
WRITES = (WRITE_FILE | REMOVE_DIR | REMOVE_FILE | MAKE_CHAR | MAKE_DIR | MAKE_REG | MAKE_SOCK
          | MAKE_FIFO | MAKE_BLOCK | MAKE_SYM | REFER | TRUNCATE)

_libc = ctypes.CDLL(None, use_errno=True)
_libc.syscall.restype = ctypes.c_long


def abi_version() -> int:
    """The kernel's Landlock ABI (0: unavailable)."""
    rc = _libc.syscall(ctypes.c_long(_SYS_CREATE), None, ctypes.c_size_t(0),
                       ctypes.c_uint32(_CREATE_RULESET_VERSION))
    return max(int(rc), 0)


def _fs_mask(abi: int) -> int:
    return _FS_BY_ABI[min(abi, 5)]


def restrict(read_paths=(), write_paths=(), *, list_paths=(), handled: int | None = None,
             no_tcp: bool = True, scoped: bool = True) -> int:
    """Restrict this process (and its future children) irrevocably; returns the ABI used.

    Read paths may be read beneath; write paths written too; list paths only listed (a site
    directory: its entries' names, not the files of packages outside the view). `handled`
    (default: every file right the ABI knows) is what the ruleset governs: rights not handled
    stay unrestricted (the judge handles only writes, so it may read anything). Raises OSError
    when Landlock is unavailable.
    """
    abi = abi_version()
    if abi < 1:
        raise OSError("Landlock is not available on this kernel")
    fs = _fs_mask(abi) if handled is None else handled & _fs_mask(abi)
    if not fs and not (scoped and abi >= 6) and not (no_tcp and abi >= 4):
        raise OSError("nothing to restrict at this Landlock ABI")
    net = (NET_BIND_TCP | NET_CONNECT_TCP) if (no_tcp and abi >= 4) else 0
    scope = (SCOPE_ABSTRACT_UNIX | SCOPE_SIGNAL) if (scoped and abi >= 6) else 0
    if abi >= 6:
        attr = struct.pack("=QQQ", fs, net, scope)
    elif abi >= 4:
        attr = struct.pack("=QQ", fs, net)
    else:
        attr = struct.pack("=Q", fs)
    buf = ctypes.create_string_buffer(attr, len(attr))
    ruleset = _libc.syscall(ctypes.c_long(_SYS_CREATE), buf, ctypes.c_size_t(len(attr)), ctypes.c_uint32(0))
    if ruleset < 0:
        err = ctypes.get_errno()
        raise OSError(err, f"landlock_create_ruleset: {os.strerror(err)}")
    try:
        for paths, rights in ((list_paths, READ_DIR & fs), (read_paths, READ & fs), (write_paths, fs)):
            for path in paths:
                _add_path(int(ruleset), path, rights)
        if _libc.syscall(ctypes.c_long(_SYS_RESTRICT), ctypes.c_int(ruleset), ctypes.c_uint32(0)) != 0:
            err = ctypes.get_errno()
            raise OSError(err, f"landlock_restrict_self: {os.strerror(err)}")
    finally:
        os.close(int(ruleset))
    return abi


def _add_path(ruleset: int, path: str, rights: int) -> None:
    try:
        fd = os.open(path, os.O_PATH | os.O_CLOEXEC)
    except OSError:
        return  # absent on this host: nothing to allow
    try:
        if not os.path.isdir(path):
            rights &= FILE_RIGHTS
        if not rights:
            return
        rule = ctypes.create_string_buffer(struct.pack("=Qi", rights, fd), 12)
        if _libc.syscall(ctypes.c_long(_SYS_ADD_RULE), ctypes.c_int(ruleset),
                         ctypes.c_int(_RULE_PATH_BENEATH), rule, ctypes.c_uint32(0)) != 0:
            err = ctypes.get_errno()
            raise OSError(err, f"landlock_add_rule {path}: {os.strerror(err)}")
    finally:
        os.close(fd)
