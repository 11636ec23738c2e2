"""Allowed hosts (loopback unless PROBE_ALLOWED_HOSTS says otherwise), URL hygiene, input caps."""

from __future__ import annotations

import socket

import pytest

from probe.guard import (
    AllowedHosts,
    HostLookupFailed,
    HostNotAllowed,
    ProbeInputError,
    normalize_base_url,
    public_endpoint,
    scrub,
)
from probe.runner import ProbeSettings, run_probe


@pytest.mark.parametrize("host", ["127.0.0.1", "127.8.9.10", "::1", "[::1]", "localhost"])
def test_default_allows_loopback(host: str) -> None:
    AllowedHosts.from_env("").check(host, 80)


@pytest.mark.parametrize("host", ["10.0.0.5", "192.168.1.20", "8.8.8.8", "169.254.169.254", "::ffff:10.0.0.1"])
def test_default_refuses_other_addresses(host: str) -> None:
    with pytest.raises(HostNotAllowed, match="PROBE_ALLOWED_HOSTS"):
        AllowedHosts.from_env("").check(host, 80)


def test_default_refuses_names_that_resolve_elsewhere(monkeypatch: pytest.MonkeyPatch) -> None:
    # A name is checked by what it resolves to: 'evil.example' pointing at a LAN address is refused,
    # and so is 'localhost' if a hosts file pointed it off the machine.
    monkeypatch.setattr(socket, "getaddrinfo", lambda *a, **k: [(0, 0, 0, "", ("10.1.2.3", 80))])
    with pytest.raises(HostNotAllowed):
        AllowedHosts.from_env("").check("evil.example", 80)
    with pytest.raises(HostNotAllowed):
        AllowedHosts.from_env("").check("localhost", 80)


def test_default_allows_a_name_resolving_to_loopback(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(socket, "getaddrinfo", lambda *a, **k: [(0, 0, 0, "", ("127.0.1.1", 80))])
    assert AllowedHosts.from_env("").check("myhost", 80) == ["127.0.1.1"]


def test_unresolvable_name_not_listed_is_refused_not_a_dns_fault() -> None:
    with pytest.raises(HostNotAllowed):
        AllowedHosts.from_env("").check("no-such-host.invalid", 80)


def test_env_names_networks_and_star(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PROBE_ALLOWED_HOSTS", "gpu-box.lan, 10.0.0.0/24 ,192.168.7.7")
    allowed = AllowedHosts.from_env()
    allowed.check("10.0.0.99", 80)
    allowed.check("192.168.7.7", 80)
    allowed.check("127.0.0.1", 80)  # loopback stays allowed
    with pytest.raises(HostNotAllowed):
        allowed.check("10.0.1.1", 80)
    monkeypatch.setattr(socket, "getaddrinfo", lambda *a, **k: [(0, 0, 0, "", ("172.16.0.4", 80))])
    allowed.check("gpu-box.lan", 80)  # named explicitly: trusted wherever it points
    with pytest.raises(HostNotAllowed):
        allowed.check("other.lan", 80)
    assert AllowedHosts.from_env("*").check("anything.example", 80) == []


def test_listed_name_that_does_not_resolve_is_a_dns_fault() -> None:
    with pytest.raises(HostLookupFailed):
        AllowedHosts.from_env("nothing.invalid").check("nothing.invalid", 80)


def test_run_probe_refuses_a_disallowed_host_before_sending() -> None:
    with pytest.raises(HostNotAllowed):
        run_probe("http://10.0.0.5:11434", "m", "ollama", ProbeSettings())


@pytest.mark.parametrize(
    ("url", "base"),
    [
        ("localhost:11434", "http://localhost:11434"),
        ("http://127.0.0.1:8000/v1/", "http://127.0.0.1:8000"),
        ("https://host/proxy/v1/chat/completions", "https://host/proxy"),
        ("http://[::1]:11434/api/chat", "http://[::1]:11434"),
    ],
)
def test_normalize_base_url(url: str, base: str) -> None:
    assert normalize_base_url(url) == base


@pytest.mark.parametrize(
    "url", ["", "ftp://h", "http://user:pw@h:1", "http://h:1/?api_key=x", "http://h:99999", "http://"]
)
def test_bad_urls(url: str) -> None:
    with pytest.raises(ProbeInputError):
        normalize_base_url(url)


def test_public_endpoint_and_scrub() -> None:
    assert public_endpoint("http://u:secret@h:8000/v1?key=abc#x") == "http://h:8000/v1"
    assert scrub("token sk-abcdef rejected", "sk-abcdef") == "token *** rejected"


@pytest.mark.parametrize(
    "kw",
    [
        {"concurrency": []},
        {"concurrency": [0]},
        {"concurrency": [257]},
        {"requests_per_level": 0},
        {"concurrency": [256] * 5, "requests_per_level": 1024},  # 5120 requests > the 4096 cap
        {"max_tokens": 0},
        {"prompt_tokens": 10**7},
        {"read_timeout_s": 0},
    ],
)
def test_settings_caps(kw: dict) -> None:
    with pytest.raises(ProbeInputError):
        ProbeSettings(**kw).validate()
