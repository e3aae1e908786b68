"""Network blocking: a guarded test never reaches a real host.

While a ``NetworkGuard`` is active, resolving or reaching any address that is
not loopback fails with ``NetworkBlockedError``: what was called, that
crewstream records crewai ``BaseLLM`` calls, and what to do. Allowed:
``localhost``, the whole 127.0.0.0/8 range in any spelling ``inet_aton``
accepts (``127.1``), ``::1`` (and ``::ffff:127.x``), and unix sockets.

Patched, in ``socket`` and in ``_socket`` (code that imports the C module
directly): ``socket.connect`` / ``connect_ex``, ``sendto`` and ``sendmsg`` with
an address (UDP datagrams, TCP Fast Open's ``MSG_FASTOPEN``), and
``getaddrinfo`` / ``gethostbyname`` / ``gethostbyname_ex`` / ``gethostbyaddr``
(so a blocked host is refused before any DNS query). ``_socket.socket`` is
replaced by a guarded subclass while the guard runs (the C type itself cannot
be patched), and ``anyio.connect_tcp`` when anyio or httpx is loaded (it connects
to an address literal inside a task group). ``NetworkBlockedError`` is no ``OSError``, so HTTP clients
(httpx sync and async, aiohttp) do not wrap it in their own connection errors:
it is the exception the test sees. A loopback connection refused while the guard
runs (a replay reaching a server that ran when the test was recorded) raises
``LoopbackRefusedError``: still a ``ConnectionRefusedError``, whose message says
nothing recorded explains the call, and what to do.

Subprocesses are not guarded (a child has its own socket module); the guard
sets ``CREWSTREAM_BLOCK_NETWORK=1`` in the environment while it runs, and a
pytest run with crewstream in a child process blocks the network for all its
tests when it sees it. Guards nest; everything is restored when the last one stops.
"""

from __future__ import annotations

import _socket
import errno
import ipaddress
import os
import re
import socket
import sys
import threading
from typing import Any

from crewstream_testing.errors import LoopbackRefusedError, NetworkBlockedError

__all__ = ["ENV_VAR", "FLAG", "NetworkBlockedError", "NetworkGuard", "blocked", "is_loopback"]

FLAG = "--crewstream-block-network"
ENV_VAR = "CREWSTREAM_BLOCK_NETWORK"
"""Set to ``1`` while a guard runs, so a child pytest with crewstream guards its tests too."""
LOOPBACK_NAMES = frozenset({"localhost", "localhost.localdomain", "ip6-localhost", "ip6-loopback"})
_INET_ATON = re.compile(r"(?:0x[0-9a-f]+|[0-9]+)(?:\.(?:0x[0-9a-f]+|[0-9]+)){0,3}")
_inet_aton = _socket.inet_aton


def is_loopback(host: Any) -> bool:
    """Whether ``host`` (a name or an address) is this machine's loopback."""
    if host is None:
        return True  # getaddrinfo(None, port): the wildcard/loopback address
    if isinstance(host, bytes | bytearray):
        host = bytes(host).decode("ascii", "replace")
    text = str(host).strip().lower().rstrip(".")
    if text in ("", *LOOPBACK_NAMES):
        return True
    text = text.strip("[]").split("%", 1)[0]
    try:
        address = ipaddress.ip_address(text)
    except ValueError:
        if _INET_ATON.fullmatch(text) is None:
            return False
        try:  # the short and hex forms the C resolver accepts: 127.1, 0x7f.1
            packed = _inet_aton(text)
        except OSError:
            return False
        return packed[0] == 127
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        address = address.ipv4_mapped
    return address.is_loopback


def blocked(host: Any, port: Any, why: str, called: str) -> NetworkBlockedError:
    """The error for a blocked ``called`` (``"socket.connect(('1.2.3.4', 80))"``) to ``host:port``."""
    name = bytes(host).decode("ascii", "replace") if isinstance(host, bytes | bytearray) else host
    error = NetworkBlockedError(str(name), port, why)
    target = f"{name}:{port}" if port not in (None, "", 0) else str(name)
    message = (
        f"crewstream blocked a network connection to {target} ({why}).\n"
        f"  called: {called}\n"
        "  crewstream records and replays the LLM calls crewai makes through its BaseLLM "
        "(crewai.LLM and the provider LLMs); this call went around them, so there is "
        "nothing to replay it from.\n"
        "  fix: make the call through a crewai LLM, script it with FakeLLM (the fake_llm "
        "fixture), or record it with a tool of its own (vcrpy, pytest-recording); to let "
        f"this test reach the network, run it in a record mode other than 'none' without {FLAG} "
        "or crewstream_block_network = true"
    )
    error.args = (message,)
    return error


def _call(name: str, *args: Any) -> str:
    return f"{name}({', '.join(repr(a) for a in args)})"


def _check_address(sock: Any, address: Any, called: str) -> None:
    if sock.family not in (socket.AF_INET, socket.AF_INET6):
        return  # unix sockets, netlink, ...
    if isinstance(address, tuple) and address and not is_loopback(address[0]):
        port = address[1] if len(address) > 1 else None
        raise blocked(address[0], port, "socket connect", called)


def _guard_connect(original: Any, name: str) -> Any:
    def connect(self: Any, address: Any) -> Any:
        called = _call(f"socket.{name}", address)
        _check_address(self, address, called)
        try:
            return original(self, address)
        except ConnectionRefusedError as exc:
            if isinstance(exc, LoopbackRefusedError) or not isinstance(address, tuple):
                raise
            raise refused(address, called) from None

    return connect


def refused(address: tuple[Any, ...], called: str) -> LoopbackRefusedError:
    """The error for a loopback ``address`` that refused ``called`` while the guard ran."""
    target = f"{address[0]}:{address[1]}" if len(address) > 1 else str(address[0])
    return LoopbackRefusedError(
        errno.ECONNREFUSED,
        f"crewstream: the connection to {target} was refused, and nothing recorded explains it.\n"
        f"  called: {called}\n"
        "  crewstream records and replays the LLM calls crewai makes through its BaseLLM "
        "(crewai.LLM and the provider LLMs); a call made around them (an HTTP client, an SDK "
        "of its own) is not in the cassette, and what it reached when the test was recorded "
        "is not running now.\n"
        "  fix: make the call through a crewai LLM, script it with FakeLLM (the fake_llm "
        "fixture), record it with a tool of its own (vcrpy, pytest-recording), or start the "
        "server it needs in the test",
    )


def _guard_sendto(original: Any) -> Any:
    def sendto(self: Any, data: Any, *rest: Any) -> Any:
        # sendto(data, address) or sendto(data, flags, address); MSG_FASTOPEN opens a TCP connection
        if rest:
            _check_address(self, rest[-1], _call("socket.sendto", b"...", *rest))
        return original(self, data, *rest)

    return sendto


def _guard_sendmsg(original: Any) -> Any:
    def sendmsg(self: Any, buffers: Any, *rest: Any) -> Any:
        if len(rest) >= 3:  # sendmsg(buffers, ancdata, flags, address)
            _check_address(self, rest[2], _call("socket.sendmsg", "[...]", *rest))
        return original(self, buffers, *rest)

    return sendmsg


def _guard_resolver(original: Any, name: str) -> Any:
    def resolve(host: Any, *args: Any, **kwargs: Any) -> Any:
        if not is_loopback(host):
            port = args[0] if args and name == "getaddrinfo" else kwargs.get("port")
            raise blocked(host, port, "name resolution", _call(f"socket.{name}", host, *args))
        return original(host, *args, **kwargs)

    return resolve


_METHODS = {
    "connect": lambda o: _guard_connect(o, "connect"),
    "connect_ex": lambda o: _guard_connect(o, "connect_ex"),
    "sendto": _guard_sendto,
    "sendmsg": _guard_sendmsg,
}
_RESOLVERS = ("getaddrinfo", "gethostbyname", "gethostbyname_ex", "gethostbyaddr")

_lock = threading.Lock()
_depth = 0
_saved: list[tuple[Any, str, Any]] = []
_env_before: str | None = None


def _guard_anyio_connect(original: Any) -> Any:
    # anyio connects to an address literal in a task group: an error raised inside it
    # would reach the test wrapped in an ExceptionGroup, so the address is checked first
    async def connect_tcp(remote_host: Any, remote_port: int, *args: Any, **kwargs: Any) -> Any:
        if not is_loopback(remote_host):
            called = _call("anyio.connect_tcp", remote_host, remote_port)
            raise blocked(remote_host, remote_port, "socket connect", called)
        return await original(remote_host, remote_port, *args, **kwargs)

    return connect_tcp


def _guarded_c_socket(base: type) -> type:
    namespace = {name: wrap(getattr(base, name)) for name, wrap in _METHODS.items()}
    return type("socket", (base,), {**namespace, "__module__": "_socket"})


def _patch(owner: Any, name: str, value: Any) -> None:
    _saved.append((owner, name, owner.__dict__[name] if name in vars(owner) else None))
    setattr(owner, name, value)


def _install() -> None:
    global _env_before
    for name, wrap in _METHODS.items():
        _patch(socket.socket, name, wrap(getattr(socket.socket, name)))
    # code that builds sockets from the C module directly gets the guarded subclass
    _patch(_socket, "socket", _guarded_c_socket(_socket.socket))
    for module in (socket, _socket):
        for name in _RESOLVERS:
            _patch(module, name, _guard_resolver(getattr(module, name), name))
    if "anyio" in sys.modules or "httpx" in sys.modules:
        import anyio

        _patch(anyio, "connect_tcp", _guard_anyio_connect(anyio.connect_tcp))
    _env_before = os.environ.get(ENV_VAR)
    os.environ[ENV_VAR] = "1"


def _uninstall() -> None:
    while _saved:
        owner, name, value = _saved.pop()
        if value is None:
            delattr(owner, name)
        else:
            setattr(owner, name, value)
    if _env_before is None:
        os.environ.pop(ENV_VAR, None)
    else:
        os.environ[ENV_VAR] = _env_before


class NetworkGuard:
    """Blocks non-loopback connections between ``start()`` and ``stop()`` (process-wide)."""

    def __init__(self) -> None:
        self.active = False

    def start(self) -> NetworkGuard:
        global _depth
        with _lock:
            if self.active:
                return self
            if _depth == 0:
                _install()
            _depth += 1
            self.active = True
        return self

    def stop(self) -> None:
        global _depth
        with _lock:
            if not self.active:
                return
            self.active = False
            _depth -= 1
            if _depth == 0:
                _uninstall()

    def __enter__(self) -> NetworkGuard:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()


def network_blocked() -> bool:
    """Whether a guard is active."""
    return _depth > 0


def blocked_by_environment() -> bool:
    """Whether a parent process's guard asked this process to block the network (``ENV_VAR``)."""
    return os.environ.get(ENV_VAR, "") not in ("", "0")
