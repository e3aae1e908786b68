"""Network blocking: a replayed test never reaches a real provider.

While a ``NetworkGuard`` is active, resolving or connecting to any address that
is not loopback fails with ``NetworkBlockedError`` naming the host and the flag.
Allowed: ``localhost``, 127.0.0.0/8, ``::1`` (and ``::ffff:127.x``), and unix
sockets. The guard patches ``socket.socket.connect`` / ``connect_ex`` (what
``create_connection``, asyncio and every HTTP client end up calling) and
``socket.getaddrinfo`` (so a blocked host is refused before any DNS query).
Guards nest; the sockets module is restored when the last one stops.
"""

from __future__ import annotations

import ipaddress
import socket
import threading
from typing import Any

from crewstream_testing.errors import NetworkBlockedError

__all__ = ["FLAG", "NetworkBlockedError", "NetworkGuard", "is_loopback"]

FLAG = "--crewstream-block-network"
LOOPBACK_NAMES = frozenset({"localhost", "localhost.localdomain", "ip6-localhost", "ip6-loopback"})


def is_loopback(host: Any) -> bool:
    """Whether ``host`` (a name or an address) is this machine's loopback."""
    if host is None:
        return True  # getaddrinfo(None, port): the wildcard/loopback address
    if isinstance(host, bytes):
        host = host.decode("ascii", "replace")
    text = str(host).strip().lower().rstrip(".")
    if text in ("", *LOOPBACK_NAMES):
        return True
    text = text.strip("[]").split("%", 1)[0]
    try:
        address = ipaddress.ip_address(text)
    except ValueError:
        return False
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        address = address.ipv4_mapped
    return address.is_loopback


_lock = threading.Lock()
_depth = 0
_originals: dict[str, Any] = {}


def _target(address: Any) -> tuple[str, Any] | None:
    # AF_INET / AF_INET6 addresses are tuples; unix sockets are str / bytes paths.
    if isinstance(address, tuple) and address:
        return str(address[0]), address[1] if len(address) > 1 else None
    return None


def _guarded_connect(original: Any) -> Any:
    def connect(self: socket.socket, address: Any) -> Any:
        if self.family in (socket.AF_INET, socket.AF_INET6):
            target = _target(address)
            if target is not None and not is_loopback(target[0]):
                raise NetworkBlockedError(target[0], target[1], "socket connect")
        return original(self, address)

    return connect


def _guarded_getaddrinfo(original: Any) -> Any:
    def getaddrinfo(host: Any, port: Any, *args: Any, **kwargs: Any) -> Any:
        if not is_loopback(host):
            name = host.decode() if isinstance(host, bytes) else str(host)
            raise NetworkBlockedError(name, port, "name resolution")
        return original(host, port, *args, **kwargs)

    return getaddrinfo


class NetworkGuard:
    """Blocks non-loopback connections between ``start()`` and ``stop()`` (process-wide)."""

    def __init__(self) -> None:
        self.active = False

    def start(self) -> NetworkGuard:
        global _depth
        if self.active:
            return self
        with _lock:
            if _depth == 0:
                _originals["connect"] = socket.socket.connect
                _originals["connect_ex"] = socket.socket.connect_ex
                _originals["getaddrinfo"] = socket.getaddrinfo
                socket.socket.connect = _guarded_connect(_originals["connect"])  # type: ignore[method-assign]
                socket.socket.connect_ex = _guarded_connect(_originals["connect_ex"])  # type: ignore[method-assign]
                socket.getaddrinfo = _guarded_getaddrinfo(_originals["getaddrinfo"])
            _depth += 1
            self.active = True
        return self

    def stop(self) -> None:
        global _depth
        if not self.active:
            return
        with _lock:
            self.active = False
            _depth -= 1
            if _depth == 0:
                socket.socket.connect = _originals.pop("connect")  # type: ignore[method-assign]
                socket.socket.connect_ex = _originals.pop("connect_ex")  # type: ignore[method-assign]
                socket.getaddrinfo = _originals.pop("getaddrinfo")

    def __enter__(self) -> NetworkGuard:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()


def network_blocked() -> bool:
    """Whether a guard is active."""
    return _depth > 0
