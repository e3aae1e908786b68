"""The network guard: loopback and unix sockets pass, everything else fails naming the host and the flag."""

from __future__ import annotations

import pickle
import socket
import tempfile
import threading
from pathlib import Path

import pytest

from crewstream_testing.netguard import (
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


def test_a_non_loopback_connect_fails_naming_the_host_and_the_flag() -> None:
    with NetworkGuard(), socket.socket() as sock, pytest.raises(NetworkBlockedError) as raised:
        sock.connect((BLOCKED_IP, 443))
    assert str(raised.value) == (
        f"crewstream blocked a network connection to {BLOCKED_IP}:443 (socket connect).\n"
        "  A replayed test must not reach a real provider: every LLM call should be served from the cassette.\n"
        "  fix: record the missing calls (pytest --crewstream-record=new_episodes), or, to allow the network, "
        "run in a record mode without --crewstream-block-network"
    )
    assert isinstance(raised.value, ConnectionError)  # clients report it as a connection failure


def test_name_resolution_of_a_remote_host_is_refused_before_any_dns_query() -> None:
    with (
        NetworkGuard(),
        pytest.raises(
            NetworkBlockedError, match=r"connection to api\.openai\.com:443 \(name resolution\)"
        ),
    ):
        socket.create_connection(("api.openai.com", 443), timeout=1)


def test_an_http_client_surfaces_the_blocked_host() -> None:
    import httpx

    # httpx re-raises httpcore's ConnectError as its own; after an in-process
    # pytester run re-imported httpx, the class may come from either copy, so
    # the test checks the name and the message, not the class object.
    with NetworkGuard(), pytest.raises(Exception) as info:
        httpx.get("https://api.openai.com/v1/models", timeout=1)
    assert type(info.value).__name__ == "ConnectError"
    message = str(info.value)
    assert "crewstream blocked a network connection to api.openai.com:443" in message
    assert "--crewstream-block-network" in message


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
    original = (socket.socket.connect, socket.socket.connect_ex, socket.getaddrinfo)
    outer, inner = NetworkGuard(), NetworkGuard()
    with outer:
        with inner:
            assert network_blocked()
        assert network_blocked()  # the outer guard still holds
        with pytest.raises(NetworkBlockedError):
            socket.getaddrinfo("example.com", 80)
    assert not network_blocked()
    assert (socket.socket.connect, socket.socket.connect_ex, socket.getaddrinfo) == original


def test_the_error_survives_pickling_for_xdist_workers() -> None:
    error = NetworkBlockedError("example.com", 80, "name resolution")
    copy = pickle.loads(pickle.dumps(error))
    assert type(copy) is NetworkBlockedError
    assert str(copy) == str(error) and (copy.host, copy.port) == ("example.com", 80)
