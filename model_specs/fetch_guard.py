"""Which model files the dashboard's server may read for a visitor: hosts for URLs, a folder for local paths.

On a shared deployment the Memory page's "Bring your own model" makes the server fetch what a visitor types, so
the page applies a FetchGuard (the CLI, run by the user on their own machine, does not):
- URLs: only hosts of the Hugging Face Hub (huggingface.co, hf.co and their CDN/Xet hosts, which the Hub's
  resolve/ URLs redirect to: `*.hf.co`, `*.huggingface.co`, per huggingface/hub-docs "Downloading behind a proxy
  or firewall") and HF_ENDPOINT's host, plus MODEL_FETCH_ALLOWED_HOSTS (names, `*.suffix`, IPs, CIDRs; `*` = any
  public host). A name that resolves to a private, loopback, link-local, multicast or reserved address is refused
  unless MODEL_FETCH_ALLOWED_HOSTS lists that name or network. The check runs on the addresses the connection is
  then made to (resolve once, connect only to those), on every redirect hop, so DNS rebinding cannot slip past it.
- Local paths: only under MODEL_DIR (unset: none), after realpath, so `..` and symlinks cannot leave it.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from urllib.parse import urlsplit

from model_specs.gguf_header import GGUFError
from model_specs.hostlist import HostList, HostLookupFailed, ip_literal, is_public, normalize_host, resolve

ENV_ALLOWED_HOSTS = "MODEL_FETCH_ALLOWED_HOSTS"
ENV_MODEL_DIR = "MODEL_DIR"
HUB_HOSTS = "huggingface.co, *.huggingface.co, hf.co, *.hf.co"
DEFAULT_HUB_ENDPOINT = "https://huggingface.co"


class FetchRefused(GGUFError):
    """A host or path the server may not read for the page; the message names the variable to set."""


@dataclass(frozen=True)
class FetchGuard:
    """The page's rule for remote hosts and local paths."""

    hub: HostList  # Hugging Face hosts and HF_ENDPOINT's host: public addresses only
    allowed: HostList  # MODEL_FETCH_ALLOWED_HOSTS: listed names and networks may be private
    model_dir: str | None  # realpath of MODEL_DIR; None: local paths are off

    @classmethod
    def from_env(cls) -> FetchGuard:
        """The guard from MODEL_FETCH_ALLOWED_HOSTS, HF_ENDPOINT and MODEL_DIR as set now."""
        endpoint_host = urlsplit(os.environ.get("HF_ENDPOINT", "") or DEFAULT_HUB_ENDPOINT).hostname or ""
        hub = HostList.parse(f"{HUB_HOSTS}, {endpoint_host}")
        allowed = HostList.parse(os.environ.get(ENV_ALLOWED_HOSTS, ""))
        root = os.environ.get(ENV_MODEL_DIR, "").strip()
        return cls(hub, allowed, os.path.realpath(root) if root else None)

    def addresses(self, host: str, port: int | None) -> list[str]:
        """The addresses of `host` the server may connect to (all it resolves to); FetchRefused otherwise."""
        host = normalize_host(host)
        literal = ip_literal(host)
        trusted_name = literal is None and self.allowed.has_name(host)  # listed by the operator: may be private
        public_ok = self.allowed.any_host or self.hub.has_name(host) or trusted_name
        if literal is not None:
            addrs = [str(literal)]
            public_ok = public_ok or self.hub.in_networks(literal)
        elif not (public_ok or self.allowed.networks):
            raise FetchRefused(_not_listed(host))  # not even resolved: no DNS query for a host nobody listed
        else:
            try:
                addrs = resolve(host, port)
            except HostLookupFailed:
                raise FetchRefused(f"cannot resolve host {host!r}" if public_ok else _not_listed(host)) from None
        for a in addrs:
            if trusted_name or self.allowed.in_networks(a):
                continue
            if not is_public(a):
                raise FetchRefused(_private(host, a))
            if not public_ok:
                raise FetchRefused(_not_listed(host))
        return addrs

    def check_url(self, url: str) -> None:
        """Refuse a URL whose scheme is not http(s) or whose host is not allowed."""
        p = urlsplit(url)
        if p.scheme not in ("http", "https") or not p.hostname:
            raise FetchRefused(f"only http(s) URLs can be read, not {p.scheme or 'this'}://")
        self.addresses(p.hostname, p.port)

    def local_path(self, path: str) -> str:
        """The real path of a file under MODEL_DIR (relative paths are taken inside it); FetchRefused otherwise."""
        if self.model_dir is None:
            raise FetchRefused(
                f"local paths are off on this server: set {ENV_MODEL_DIR} to a folder of model files, or upload the file"
            )
        real = os.path.realpath(os.path.join(self.model_dir, path))
        if os.path.commonpath([real, self.model_dir]) != self.model_dir:
            raise FetchRefused(f"{path}: outside {ENV_MODEL_DIR}, refused (only files under {ENV_MODEL_DIR} are read)")
        return real


def _not_listed(host: str) -> str:
    return (
        f"host {host!r} is not allowed: the server reads model files from the Hugging Face Hub only, "
        f"unless {ENV_ALLOWED_HOSTS} lists the host"
    )


def _private(host: str, addr: str) -> str:
    where = "" if addr == host else f" (it resolves to {addr})"
    return (
        f"host {host!r} is a private, loopback or link-local address{where}, refused; "
        f"list it in {ENV_ALLOWED_HOSTS} to allow it"
    )
