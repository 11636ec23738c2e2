"""Host lists for the server-side fetch guards: names, `*.suffix` wildcards, IPs, CIDR networks and `*`.

Shared by the probe's guard (probe/guard.py, PROBE_ALLOWED_HOSTS) and the model-file guard
(model_specs/fetch_guard.py, MODEL_FETCH_ALLOWED_HOSTS); each applies its own policy on top of the matching here.
It lives in model_specs because both probe and model_specs may import it (dependencies point one way).
"""

from __future__ import annotations

import ipaddress
import socket
from dataclasses import dataclass

IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network
IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
LOOPBACK_NETWORKS: tuple[IPNetwork, ...] = (ipaddress.ip_network("127.0.0.0/8"), ipaddress.ip_network("::1/128"))


class HostLookupFailed(Exception):
    """A host name did not resolve (a DNS failure)."""


def normalize_host(host: str) -> str:
    """Lower case, no trailing dot, no IPv6 brackets."""
    return host.strip().lower().rstrip(".").strip("[]")


def ip_literal(host: str) -> IPAddress | None:
    """The address if `host` is an IP literal (IPv4-mapped IPv6 unwrapped), else None."""
    try:
        return unwrap(ipaddress.ip_address(normalize_host(host).split("%")[0]))
    except ValueError:
        return None


def unwrap(ip: IPAddress) -> IPAddress:
    """The IPv4 address inside an IPv4-mapped, 6to4 or Teredo IPv6 address; `ip` otherwise."""
    if isinstance(ip, ipaddress.IPv6Address):
        inner = ip.ipv4_mapped or ip.sixtofour or (ip.teredo[1] if ip.teredo else None)
        if inner is not None:
            return inner
    return ip


def is_public(addr: str | IPAddress) -> bool:
    """Whether an address is globally routable: not private, loopback, link-local, multicast, reserved or unspecified."""
    ip = unwrap(ipaddress.ip_address(str(addr).split("%")[0]))
    return ip.is_global and not (ip.is_multicast or ip.is_reserved or ip.is_unspecified)


@dataclass(frozen=True)
class HostList:
    """A parsed comma list: exact names, `*.suffix` wildcards, IP/CIDR networks, and `*` for any host."""

    names: frozenset[str] = frozenset()
    suffixes: tuple[str, ...] = ()  # '.hf.co' for the entry '*.hf.co'
    networks: tuple[IPNetwork, ...] = ()
    any_host: bool = False

    @classmethod
    def parse(cls, raw: str, networks: tuple[IPNetwork, ...] = ()) -> HostList:
        """Parse 'name, *.suffix, 10.0.0.5, 10.0.0.0/8, *'; `networks` are always included."""
        names: set[str] = set()
        suffixes: list[str] = []
        nets = list(networks)
        any_host = False
        for e in (normalize_host(x) for x in raw.split(",")):
            if not e:
                continue
            if e == "*":
                any_host = True
            elif e.startswith("*."):
                suffixes.append(e[1:])
            else:
                try:
                    nets.append(ipaddress.ip_network(e, strict=False))
                except ValueError:
                    names.add(e)
        return cls(frozenset(names), tuple(suffixes), tuple(nets), any_host)

    def __or__(self, other: HostList) -> HostList:
        return HostList(
            self.names | other.names,
            self.suffixes + other.suffixes,
            self.networks + other.networks,
            self.any_host or other.any_host,
        )

    def has_name(self, host: str) -> bool:
        """Whether the name is listed, exactly or under a `*.suffix` wildcard."""
        host = normalize_host(host)
        return host in self.names or any(host.endswith(s) for s in self.suffixes)

    def in_networks(self, addr: str | IPAddress) -> bool:
        """Whether an address lies in one of the listed networks (IPv4-mapped IPv6 unwrapped)."""
        ip = unwrap(ipaddress.ip_address(str(addr).split("%")[0]))
        return any(ip in net for net in self.networks)


def resolve(host: str, port: int | None) -> list[str]:
    """All addresses a host name resolves to; HostLookupFailed when it does not resolve."""
    try:
        infos = socket.getaddrinfo(normalize_host(host), port or 80, type=socket.SOCK_STREAM)
    except (socket.gaierror, UnicodeError) as e:
        raise HostLookupFailed(f"cannot resolve host {host!r}: {e}") from None
    return sorted({str(info[4][0]) for info in infos})
