"""Which TCP addresses a process tree listens on, read from /proc (Linux; psutil is not a dependency).

A socket a process holds shows up as ``socket:[INODE]`` in ``/proc/<pid>/fd``; the kernel's
tables ``/proc/net/tcp`` and ``/proc/net/tcp6`` map each inode to its local address and state
(``0A`` is LISTEN). Addresses there are hex in host byte order per 32-bit word.
"""

from __future__ import annotations

import ipaddress
import os
import socket
import struct
from pathlib import Path

LISTEN = "0A"


def descendants(root: int) -> set[int]:
    """``root`` and every live process below it."""
    children: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:  # exited while we looked
            continue
        ppid = int(stat.rsplit(")", 1)[1].split()[1])  # the command name may hold spaces and ')'
        children.setdefault(ppid, []).append(int(entry.name))
    found: set[int] = set()
    todo = [root] if Path(f"/proc/{root}").exists() else []
    while todo:
        pid = todo.pop()
        if pid not in found:
            found.add(pid)
            todo.extend(children.get(pid, []))
    return found


def _socket_inodes(pid: int) -> set[int]:
    inodes = set()
    try:
        for fd in os.listdir(f"/proc/{pid}/fd"):
            try:
                target = os.readlink(f"/proc/{pid}/fd/{fd}")
            except OSError:
                continue
            if target.startswith("socket:["):
                inodes.add(int(target[8:-1]))
    except OSError:
        pass
    return inodes


def _address(hex_address: str) -> str:
    raw = bytes.fromhex(hex_address)
    words = struct.unpack(f"<{len(raw) // 4}I", raw)  # the kernel prints each 32-bit word in host order
    packed = struct.pack(f">{len(words)}I", *words)
    return str(ipaddress.ip_address(packed))


def listening(pids: set[int]) -> list[tuple[int, str, int, str]]:
    """(pid, address, port, command) of every TCP socket in LISTEN state held by ``pids``."""
    owner = {inode: pid for pid in pids for inode in _socket_inodes(pid)}
    found = []
    for table in ("tcp", "tcp6"):
        try:
            lines = Path(f"/proc/net/{table}").read_text().splitlines()[1:]
        except OSError:
            continue
        for line in lines:
            fields = line.split()
            local, state, inode = fields[1], fields[3], int(fields[9])
            if state != LISTEN or inode not in owner:
                continue
            host, port = local.split(":")
            pid = owner[inode]
            found.append((pid, _address(host), int(port, 16), _command(pid)))
    return found


def _command(pid: int) -> str:
    """The process's command line on one line (Ray workers and agents pad their titles with spaces)."""
    try:
        raw = Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return "?"
    return " ".join(raw.decode(errors="replace").replace("\0", " ").split())


def is_loopback(address: str) -> bool:
    ip = ipaddress.ip_address(address)
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    return ip.is_loopback


def free_port() -> int:
    """A local TCP port nobody listens on (bound then released: good enough for a test)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]
