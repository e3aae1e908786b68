"""Which tests the network guard covers, end to end (issue 11.5).

Mode ``none``: every test that uses crewstream (a fixture or the marker), whether
or not it records. ``crewstream_block_network = true``: every test. Otherwise a
plain test is never guarded. 192.0.2.0/24 (TEST-NET-1) is never routed, so
nothing is reached even if the guard failed open.
"""

from __future__ import annotations

import pytest

pytestmark = pytest.mark.usefixtures("inner")

ATTEMPTS = """
import _socket
import asyncio
import socket
import threading

import pytest

from crewstream_testing.errors import NetworkBlockedError
from crewstream_testing.netguard import network_blocked

IP = "192.0.2.10"


def udp():
    return socket.socket(socket.AF_INET, socket.SOCK_DGRAM)


def attempts():
    import httpx

    async def httpx_async():
        async with httpx.AsyncClient() as client:
            await client.get(f"http://{IP}/", timeout=1)

    return {
        "connect": lambda: socket.socket().connect((IP, 80)),
        "_socket connect": lambda: _socket.socket().connect((IP, 80)),
        "fastopen": lambda: socket.socket().sendto(b"x", socket.MSG_FASTOPEN, (IP, 80)),
        "udp sendto": lambda: udp().sendto(b"x", (IP, 53)),
        "udp sendmsg": lambda: udp().sendmsg([b"x"], [], 0, (IP, 53)),
        "getaddrinfo": lambda: socket.getaddrinfo("example.com", 443),
        "gethostbyname": lambda: socket.gethostbyname("example.com"),
        "_socket gethostbyname": lambda: _socket.gethostbyname("example.com"),
        "httpx": lambda: httpx.get("https://api.openai.com/v1/models", timeout=1),
        "httpx async": lambda: asyncio.run(httpx_async()),
    }


def every_way_out_is_blocked():
    assert network_blocked()
    outcomes = {}
    for name, attempt in attempts().items():
        try:
            attempt()
        except NetworkBlockedError as exc:
            outcomes[name] = str(exc).splitlines()[0]
        else:
            outcomes[name] = "reached"
    assert all(line.startswith("crewstream blocked a network connection to ") for line in outcomes.values()), outcomes
    loopback_works()


def loopback_works():
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(1)
    got = []
    thread = threading.Thread(target=lambda: got.append(server.accept()[0].recv(2)))
    thread.start()
    with socket.create_connection(("127.1", server.getsockname()[1]), timeout=5) as client:
        client.sendall(b"ok")
    thread.join()
    server.close()
    assert got == [b"ok"]
"""

TESTS = """
from attempts import every_way_out_is_blocked, loopback_works, network_blocked
import pytest


@pytest.mark.crewstream(allow_empty=True)
def test_marker_only():
    every_way_out_is_blocked()


def test_fake_llm_only(fake_llm):
    every_way_out_is_blocked()


def test_plain():
    {plain}
"""


def test_mode_none_guards_every_test_using_crewstream_and_no_plain_test(
    inner: pytest.Pytester,
) -> None:
    inner.makepyfile(attempts=ATTEMPTS, test_net=TESTS.format(plain="assert not network_blocked()"))
    result = inner.runpytest(
        "-p", "no:cacheprovider", "--crewstream-record=none", "-W", "ignore::ResourceWarning"
    )
    result.assert_outcomes(passed=3)


def test_the_ini_key_guards_plain_tests_too(inner: pytest.Pytester) -> None:
    inner.makeini(
        "[pytest]\nasyncio_default_fixture_loop_scope = function\ncrewstream_block_network = true\n"
    )
    inner.makepyfile(attempts=ATTEMPTS, test_net=TESTS.format(plain="every_way_out_is_blocked()"))
    result = inner.runpytest(
        "-p", "no:cacheprovider", "--crewstream-record=once", "-W", "ignore::ResourceWarning"
    )
    result.assert_outcomes(passed=3)


def test_a_recording_mode_leaves_crewstream_tests_unguarded(inner: pytest.Pytester) -> None:
    inner.makepyfile(
        test_net="""
from crewstream_testing.netguard import network_blocked


def test_fake_llm_only(fake_llm):
    assert not network_blocked()
"""
    )
    inner.runpytest("-p", "no:cacheprovider", "--crewstream-record=once").assert_outcomes(passed=1)


def test_a_replayed_test_whose_loopback_server_is_gone_is_told_why(
    inner: pytest.Pytester,
) -> None:
    # the app's own HTTP call to a local service: recorded nowhere, and in replay nothing runs there
    inner.makepyfile(
        test_app="""
import socket

import httpx
import pytest


def closed_port():
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@pytest.mark.crewstream(allow_empty=True)
def test_app_calls_its_local_service():
    httpx.get(f"http://127.0.0.1:{closed_port()}/v1/chat/completions")
"""
    )
    result = inner.runpytest("-p", "no:cacheprovider", "--crewstream-record=none")
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(
        [
            "*ConnectError*crewstream: the connection to 127.0.0.1:* was refused, and nothing recorded explains it*",
        ]
    )
    output = result.stdout.str()
    assert "through its BaseLLM" in output and "fix: make the call through a crewai LLM" in output
