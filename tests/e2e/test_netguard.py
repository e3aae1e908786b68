"""The network guard: loopback and unix sockets pass, every other way out fails with crewstream's message."""

from __future__ import annotations

import _socket
import asyncio
import errno
import os
import pickle
import socket
import tempfile
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from crewstream_testing.netguard import (
    ENV_VAR,
    NetworkBlockedError,
    NetworkGuard,
    is_loopback,
    network_blocked,
)

# 192.0.2.0/24 is TEST-NET-1: never routed, so nothing is reached even if the guard failed open.
BLOCKED_IP = "192.0.2.10"


@pytest.mark.parametrize(
    ("host", "expected"),
    [
        ("localhost", True),
        ("LOCALHOST.", True),
        ("127.0.0.1", True),
        ("127.8.9.10", True),
        ("127.1", True),
        ("0x7f.1", True),
        ("1", False),
        ("128.1", False),
        ("::1", True),
        ("[::1]", True),
        ("::ffff:127.0.0.1", True),
        (None, True),
        (b"127.0.0.1", True),
        ("api.openai.com", False),
        ("10.0.0.1", False),
        ("::ffff:10.0.0.1", False),
        ("128.0.0.1", False),
        ("localhost.example.com", False),
    ],
)
def test_is_loopback(host: object, expected: bool) -> None:
    assert is_loopback(host) is expected


def test_a_non_loopback_connect_fails_saying_what_was_called_and_what_to_do() -> None:
    with NetworkGuard(), socket.socket() as sock, pytest.raises(NetworkBlockedError) as raised:
        sock.connect((BLOCKED_IP, 443))
    assert str(raised.value) == (
        f"crewstream blocked a network connection to {BLOCKED_IP}:443 (socket connect).\n"
        f"  called: socket.connect(('{BLOCKED_IP}', 443))\n"
        "  crewstream records and replays the LLM calls crewai makes through its BaseLLM "
        "(crewai.LLM and the provider LLMs); this call went around them, so there is "
        "nothing to replay it from.\n"
        "  fix: make the call through a crewai LLM, script it with FakeLLM (the fake_llm "
        "fixture), or record it with a tool of its own (vcrpy, pytest-recording); to let "
        "this test reach the network, run it in a record mode other than 'none' without "
        "--crewstream-block-network or crewstream_block_network = true"
    )
    # no OSError: HTTP clients would wrap it in their own connection error
    assert not isinstance(raised.value, OSError)


def _closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
    return port


def test_a_refused_loopback_connect_says_nothing_recorded_explains_it() -> None:
    import httpx

    from crewstream_testing.errors import LoopbackRefusedError

    port = _closed_port()
    with NetworkGuard(), socket.socket() as sock, pytest.raises(LoopbackRefusedError) as raised:
        sock.connect(("127.0.0.1", port))
    # still a refusal: code that handles one behaves as before
    assert isinstance(raised.value, ConnectionRefusedError)
    assert raised.value.errno == errno.ECONNREFUSED
    message = str(raised.value)
    assert (
        f"the connection to 127.0.0.1:{port} was refused, and nothing recorded explains it"
        in message
    )
    assert f"called: socket.connect(('127.0.0.1', {port}))" in message
    assert "through its BaseLLM" in message and "FakeLLM" in message
    # an HTTP client's own connection error carries it (httpx's ConnectError, or httpcore's
    # when an in-process pytester run has left httpx mapping another copy of httpcore's classes)
    with NetworkGuard(), pytest.raises(Exception) as wrapped:
        httpx.get(f"http://127.0.0.1:{port}/")
    assert type(wrapped.value).__name__ == "ConnectError"
    assert "nothing recorded explains it" in str(wrapped.value)
    # without the guard, a refusal is the plain OSError
    with socket.socket() as sock, pytest.raises(ConnectionRefusedError) as plain:
        sock.connect(("127.0.0.1", port))
    assert not isinstance(plain.value, LoopbackRefusedError)


TCP, UDP = (socket.AF_INET, socket.SOCK_STREAM), (socket.AF_INET, socket.SOCK_DGRAM)
Call = tuple[Any, Callable[[Any], object]]

BLOCKED_CALLS: dict[str, Call] = {
    "socket.connect": (socket.socket, lambda s: s.connect((BLOCKED_IP, 80))),
    "socket.connect_ex": (socket.socket, lambda s: s.connect_ex((BLOCKED_IP, 80))),
    "_socket.connect": (lambda *a: _socket.socket(*a), lambda s: s.connect((BLOCKED_IP, 80))),
    "_socket.connect_ex": (lambda *a: _socket.socket(*a), lambda s: s.connect_ex((BLOCKED_IP, 80))),
    "tcp fastopen": (
        socket.socket,
        lambda s: s.sendto(b"x", socket.MSG_FASTOPEN, (BLOCKED_IP, 80)),
    ),
    "udp sendto": (socket.socket, lambda s: s.sendto(b"x", (BLOCKED_IP, 53))),
    "_socket udp sendto": (
        lambda *a: _socket.socket(*a),
        lambda s: s.sendto(b"x", (BLOCKED_IP, 53)),
    ),
    "udp sendmsg": (socket.socket, lambda s: s.sendmsg([b"x"], [], 0, (BLOCKED_IP, 53))),
    "getaddrinfo": (None, lambda _: socket.getaddrinfo("example.com", 80)),
    "_socket.getaddrinfo": (None, lambda _: _socket.getaddrinfo("example.com", 80)),
    "gethostbyname": (None, lambda _: socket.gethostbyname("example.com")),
    "_socket.gethostbyname": (None, lambda _: _socket.gethostbyname("example.com")),
    "gethostbyname_ex": (None, lambda _: socket.gethostbyname_ex("example.com")),
    "gethostbyaddr": (None, lambda _: socket.gethostbyaddr(BLOCKED_IP)),
    "create_connection": (None, lambda _: socket.create_connection((BLOCKED_IP, 80), timeout=1)),
}


@pytest.mark.parametrize("call", sorted(BLOCKED_CALLS))
def test_every_way_out_is_blocked(call: str) -> None:
    kind, action = BLOCKED_CALLS[call]
    with NetworkGuard():
        sock = None if kind is None else kind(*(UDP if "udp" in call else TCP))
        try:
            with pytest.raises(NetworkBlockedError) as raised:
                action(sock)
        finally:
            if sock is not None:
                sock.close()
    assert str(raised.value).startswith("crewstream blocked a network connection to ")
    assert "\n  called: " in str(raised.value)


@pytest.mark.parametrize("url", ["https://api.openai.com/v1/models", f"http://{BLOCKED_IP}/"])
def test_http_clients_raise_the_crewstream_error_itself(url: str) -> None:
    import aiohttp
    import httpx

    async def with_httpx() -> None:
        async with httpx.AsyncClient() as client:
            await client.get(url, timeout=1)

    async def with_aiohttp() -> None:
        async with aiohttp.ClientSession() as session, session.get(url) as response:
            await response.read()

    clients = {
        "httpx": lambda: httpx.get(url, timeout=1),
        "httpx async": lambda: asyncio.run(with_httpx()),
        "aiohttp": lambda: asyncio.run(with_aiohttp()),
    }
    for name, client in clients.items():
        with NetworkGuard(), pytest.raises(NetworkBlockedError) as raised:
            client()
        # the test sees crewstream's error, not httpx.ConnectError or an ExceptionGroup
        assert type(raised.value).__name__ == "NetworkBlockedError", name
        assert "crewstream blocked a network connection to " in str(raised.value), name


def test_loopback_and_unix_sockets_still_work() -> None:
    with NetworkGuard():
        server = socket.socket()
        server.bind(("127.0.0.1", 0))
        server.listen(1)
        accepted: list[bytes] = []

        def accept() -> None:
            conn, _ = server.accept()
            with conn:
                accepted.append(conn.recv(5))

        thread = threading.Thread(target=accept)
        thread.start()
        with socket.create_connection(("localhost", server.getsockname()[1]), timeout=5) as client:
            client.sendall(b"hello")
        for spelling in ("127.1", "127.0.0.2"):  # the whole 127.0.0.0/8 range, short forms too
            with pytest.raises(ConnectionRefusedError):
                socket.create_connection((spelling, 9), timeout=5)
        thread.join()
        server.close()
        assert accepted == [b"hello"]

        with tempfile.TemporaryDirectory() as tmp:
            path = str(Path(tmp) / "s.sock")
            unix_server = socket.socket(socket.AF_UNIX)
            unix_server.bind(path)
            unix_server.listen(1)
            with socket.socket(socket.AF_UNIX) as unix_client:
                assert unix_client.connect_ex(path) == 0
            unix_server.close()


def test_guards_nest_and_restore_the_socket_module() -> None:
    original = (
        socket.socket.connect,
        socket.socket.sendto,
        socket.getaddrinfo,
        _socket.socket,
        _socket.gethostbyname,
    )
    outer, inner = NetworkGuard(), NetworkGuard()
    with outer:
        with inner:
            assert network_blocked() and os.environ[ENV_VAR] == "1"
        assert network_blocked()  # the outer guard still holds
        with pytest.raises(NetworkBlockedError):
            socket.getaddrinfo("example.com", 80)
    assert not network_blocked()
    assert (
        socket.socket.connect,
        socket.socket.sendto,
        socket.getaddrinfo,
        _socket.socket,
        _socket.gethostbyname,
    ) == original
    assert ENV_VAR not in os.environ


def test_the_error_survives_pickling_for_xdist_workers() -> None:
    error = NetworkBlockedError("example.com", 80, "name resolution")
    copy = pickle.loads(pickle.dumps(error))
    assert type(copy) is NetworkBlockedError
    assert str(copy) == str(error) and (copy.host, copy.port) == ("example.com", 80)
