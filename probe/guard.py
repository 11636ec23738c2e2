"""Guard rails: which hosts the probe may contact, URL hygiene, secret scrubbing, limits."""

from __future__ import annotations

import os
from dataclasses import dataclass
from urllib.parse import urlsplit, urlunsplit

from model_specs.hostlist import (
    LOOPBACK_NETWORKS,
    HostList,
    HostLookupFailed,
    ip_literal,
    normalize_host,
    resolve,
)

# The dashboard's server makes the requests, so by default it may only probe itself (SSRF guard).
ENV_ALLOWED_HOSTS = "PROBE_ALLOWED_HOSTS"

# Caps that keep one run from turning the probe into a load generator against a shared server.
MAX_CONCURRENCY = 256
MAX_REQUESTS_PER_LEVEL = 1024
MAX_TOTAL_REQUESTS = 4096
MAX_PROMPT_TOKENS = 131_072
MAX_OUTPUT_TOKENS = 32_768
MAX_WARMUP_REQUESTS = 8
MAX_RATE_PER_S = 1000.0  # open-loop requests/s per level
MAX_WORKERS = 64  # local worker processes or Ray actors


class ProbeInputError(ValueError):
    """Bad input (URL, settings, host not allowed): a one-line message for the user."""


class HostNotAllowed(ProbeInputError):
    """The endpoint's host is outside PROBE_ALLOWED_HOSTS."""


@dataclass(frozen=True)
class AllowedHosts:
    """Parsed PROBE_ALLOWED_HOSTS: names, networks, or '*' for any host (matching in model_specs/hostlist.py)."""

    hosts: HostList
    explicit: bool = False  # False: the loopback default, where 'localhost' must resolve to loopback

    @classmethod
    def from_env(cls, value: str | None = None) -> AllowedHosts:
        """Parse a comma list of host names, IPs and CIDR networks; unset means loopback only."""
        raw = os.environ.get(ENV_ALLOWED_HOSTS, "") if value is None else value
        explicit = bool(raw.replace(",", "").strip())
        return cls(HostList.parse(raw if explicit else "localhost", LOOPBACK_NETWORKS) | _LOCALHOST, explicit)

    def check(self, host: str, port: int | None) -> list[str]:
        """Raise HostNotAllowed unless host (and every address it resolves to) is allowed."""
        host = normalize_host(host)
        if self.hosts.any_host:
            return []
        literal = ip_literal(host)
        if literal is not None:
            if not self.hosts.in_networks(literal):
                raise HostNotAllowed(_not_allowed(host))
            return [str(literal)]
        named = self.hosts.has_name(host)
        try:
            addrs = resolve(host, port)
        except HostLookupFailed:
            if named:
                raise  # an allowed name that does not resolve is a DNS fault of the endpoint
            raise HostNotAllowed(_not_allowed(host)) from None
        # A host allowed by name is trusted wherever it points, except the default 'localhost',
        # which must really be loopback; any other name must resolve inside an allowed network.
        trust_name = named and (self.explicit and host != "localhost")
        if not trust_name and not all(self.hosts.in_networks(a) for a in addrs):
            raise HostNotAllowed(_not_allowed(host))
        return addrs


_LOCALHOST = HostList(frozenset({"localhost"}))


def _not_allowed(host: str) -> str:
    return (
        f"host {host!r} is not allowed; the probe only contacts loopback unless "
        f"{ENV_ALLOWED_HOSTS} lists the host (comma-separated names, IPs or CIDRs)"
    )


def normalize_base_url(url: str) -> str:
    """Validate an endpoint URL and reduce it to scheme://host[:port][/path] without /v1 or a query."""
    url = (url or "").strip()
    if not url:
        raise ProbeInputError("an endpoint URL is required, e.g. http://127.0.0.1:11434")
    if "://" not in url:
        url = "http://" + url
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError as e:
        raise ProbeInputError(f"invalid URL: {e}") from None
    if parts.scheme not in ("http", "https"):
        raise ProbeInputError(f"unsupported URL scheme {parts.scheme!r}; use http or https")
    if not parts.hostname:
        raise ProbeInputError("the URL has no host")
    if parts.username or parts.password:
        raise ProbeInputError("credentials in the URL are refused; pass the API key through an environment variable")
    if parts.query:
        raise ProbeInputError("the URL must not carry a query string; pass the API key through an environment variable")
    path = parts.path.rstrip("/")
    for suffix in ("/v1/chat/completions", "/api/chat", "/v1"):
        if path.endswith(suffix):
            path = path[: -len(suffix)]
            break
    netloc = parts.hostname if ":" not in parts.hostname else f"[{parts.hostname}]"
    if port is not None:
        netloc += f":{port}"
    return urlunsplit((parts.scheme, netloc, path, "", ""))


def public_endpoint(url: str) -> str:
    """The endpoint as safe to store or show: no user info, query or fragment."""
    try:
        parts = urlsplit(url)
        host = parts.hostname or ""
        netloc = host if ":" not in host else f"[{host}]"
        if parts.port is not None:
            netloc += f":{parts.port}"
        return urlunsplit((parts.scheme, netloc, parts.path.rstrip("/"), "", ""))
    except ValueError:
        return "<invalid URL>"


def host_and_port(base_url: str) -> tuple[str, int | None]:
    """The host and port of a normalized base URL."""
    parts = urlsplit(base_url)
    return parts.hostname or "", parts.port


def scrub(message: str, secret: str | None) -> str:
    """Remove a secret from a message before it is shown, stored or logged."""
    if secret and len(secret) >= 4:
        message = message.replace(secret, "***")
    return message
