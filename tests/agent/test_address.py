"""parse_address: what operators type and what older rows hold, to one AgentAddress; pure, no I/O."""

from __future__ import annotations

import pytest

from vurti.agent.address import VDSM_PORT, AddressError, AgentAddress, parse_address, redact


@pytest.mark.parametrize(
    "text, expected",
    [
        ("host-01.example", AgentAddress("host-01.example", VDSM_PORT, True)),
        ("  host-01.example  ", AgentAddress("host-01.example", VDSM_PORT, True)),
        ("Host-01.Example", AgentAddress("host-01.example", VDSM_PORT, True)),
        ("10.0.0.7:54322", AgentAddress("10.0.0.7", 54322, True)),
        ("[fe80::1]", AgentAddress("fe80::1", VDSM_PORT, True)),
        ("[2001:db8::7]:5000", AgentAddress("2001:db8::7", 5000, True)),
        ("stomps://host-01.example:54321", AgentAddress("host-01.example", 54321, True)),
        ("stomp://host-01.example", AgentAddress("host-01.example", VDSM_PORT, False)),
        ("STOMP://host-01.example:1", AgentAddress("host-01.example", 1, False)),
        ("stomp://[::1]:65535", AgentAddress("::1", 65535, False)),
        # rows stored before the STOMP transport: the path meant nothing to VDSM
        ("https://host-01.example:54321/", AgentAddress("host-01.example", 54321, True)),
        ("http://10.0.0.7:8080/api/jsonrpc", AgentAddress("10.0.0.7", 8080, False)),
    ],
)
def test_what_an_address_may_look_like(text: str, expected: AgentAddress) -> None:
    assert parse_address(text) == expected


def test_without_a_scheme_tls_is_the_callers_default() -> None:
    assert parse_address("host-01.example", tls=False) == AgentAddress("host-01.example", VDSM_PORT, False)
    assert parse_address("stomps://host-01.example", tls=False).tls  # a scheme wins


@pytest.mark.parametrize(
    "text, match",
    [
        ("", "empty"),
        ("   ", "empty"),
        ("host:65536", "out of range"),
        ("host:0", "port 0"),
        ("host:-1", "Port"),
        ("host:port", "Port"),
        ("ftp://host", "scheme 'ftp'"),
        ("stomps://:54321", "names no host"),
        ("stomps://", "names no host"),
        ("user@host", "no user or password"),
    ],
)
def test_what_is_not_an_address(text: str, match: str) -> None:
    with pytest.raises(AddressError, match=match):
        parse_address(text)


@pytest.mark.parametrize(
    "text",
    [
        "stomps://admin:hunter2@host-01.example",
        "admin:hunter2@host-01.example",  # no scheme
        "https://admin:hunter2@host-01.example:99999/",  # refused for its port first
        "admin:hunter2@host:port",
        "ftp://admin:hunter2@host",
        "stomps://admin:hunter2@",
        "stomps://admin:p@hunter2@host",  # an '@' in the password
    ],
)
def test_credentials_are_refused_and_not_echoed(text: str) -> None:
    with pytest.raises(AddressError) as info:
        parse_address(text)
    assert "hunter2" not in str(info.value) and "***@" in str(info.value)


def test_redact_leaves_addresses_without_credentials_alone() -> None:
    for text in ("host", "stomps://host:1", "stomps://host/a@b", "host/a@b"):
        assert redact(text) == text


@pytest.mark.parametrize(
    "address",
    [
        AgentAddress("host-01.example"),
        AgentAddress("10.0.0.7", 1, tls=False),
        AgentAddress("fe80::1", 54321),
        AgentAddress("2001:db8::7", 65535, tls=False),
    ],
)
def test_str_round_trips(address: AgentAddress) -> None:
    text = str(address)
    assert text.startswith("stomps://" if address.tls else "stomp://")
    assert parse_address(text) == address
    assert str(parse_address(text)) == text


def test_ipv6_is_written_in_brackets() -> None:
    assert str(AgentAddress("fe80::1")) == "stomps://[fe80::1]:54321"
