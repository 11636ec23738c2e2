"""The page's fetch guard: hosts (Hub + MODEL_FETCH_ALLOWED_HOSTS, private addresses refused unless listed, every
redirect hop and every connection checked) and local paths (MODEL_DIR only, realpath). Real files, a real local
HTTP server, real name resolution (`localhost`); DNS answers are faked only for rebinding, which cannot be caused
otherwise on this machine."""

from __future__ import annotations

import json
import os
import shutil
import socket
import ssl
import subprocess

import pytest
from huggingface_hub import close_session
from huggingface_hub import constants as hf_constants

from bench.gguf_reference import spec
from model_specs.fetch_guard import FetchGuard, FetchRefused
from model_specs.gguf_header import GGUFError
from model_specs.hf_hub import inspect_repo, open_location
from tests.gguf_files import model_metadata, recipe, write_gguf
from tests.http_files import FileServer
from tests.test_hf_hub import CONFIG, _nbytes, _tensors, write_safetensors

TINY = spec("guard-llama", "llama", layers=2, hidden=256, ff=512, vocab=1000, heads=4, kv=2, ctx=4096)
VAR = "MODEL_FETCH_ALLOWED_HOSTS"


def _gguf(path, split: int = 0) -> None:
    write_gguf(
        path, "llama", model_metadata(TINY, "llama"), recipe(TINY, "Q8_0"), ftype="Q8_0", split_max_tensors=split
    )


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    """127.0.0.1: a GGUF file, a Hub repo (org/tiny with sharded safetensors) and redirects set per test."""
    root = tmp_path_factory.mktemp("guard-srv")
    _gguf(root / "m.gguf")
    repo = root / "org" / "tiny"
    repo.mkdir(parents=True)
    (repo / "config.json").write_text(json.dumps(CONFIG))
    ts = _tensors()
    names = {"model-00001-of-00002.safetensors": ts[:9], "model-00002-of-00002.safetensors": ts[9:]}
    for fname, part in names.items():
        write_safetensors(repo / fname, part)
    index = {"weight_map": {n: f for f, part in names.items() for n, _, _ in part}}
    (repo / "model.safetensors.index.json").write_text(json.dumps(index))
    _gguf(repo / "tiny-Q8_0.gguf")
    with FileServer(root) as srv:
        yield srv


@pytest.fixture
def env(monkeypatch, tmp_path):
    """A clean environment: no allowed hosts, no MODEL_DIR, the public Hub endpoint, no token."""
    for var in (VAR, "MODEL_DIR", "HF_ENDPOINT", "HF_TOKEN"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("HF_TOKEN_PATH", str(tmp_path / "no-token"))
    monkeypatch.setattr(hf_constants, "HF_TOKEN_PATH", str(tmp_path / "no-token"))
    monkeypatch.setattr(hf_constants, "HF_HUB_CACHE", str(tmp_path / "cache"))
    return monkeypatch


def _seen(srv: FileServer) -> int:
    return len(srv.state.requests)


# ------------------------------------------------------------------------------------------------- hosts


@pytest.mark.parametrize(
    "host",
    ["127.0.0.1", "10.0.0.5", "192.168.1.20", "169.254.169.254", "::1", "::ffff:10.0.0.1", "224.0.0.1", "0.0.0.0"],
)
def test_private_ip_literals_are_refused_by_default(env, host):
    with pytest.raises(FetchRefused, match=f"private.*{VAR}"):
        FetchGuard.from_env().addresses(host, 80)


def test_metadata_endpoint_url_is_refused_before_any_connection(env):
    with pytest.raises(FetchRefused, match=VAR):
        open_location("http://169.254.169.254/latest/meta-data/x.gguf", FetchGuard.from_env())


def test_unlisted_hosts_are_refused_and_hub_hosts_pass_the_name_check(env):
    g = FetchGuard.from_env()
    with pytest.raises(FetchRefused, match=f"Hugging Face Hub only, unless {VAR}"):
        g.addresses("example.com", 443)
    with pytest.raises(FetchRefused, match="not allowed"):
        g.addresses("8.8.8.8", 443)  # public, but nobody listed it
    for name in ("huggingface.co", "cdn-lfs-us-1.hf.co", "cas-bridge.xethub.hf.co", "cdn-lfs.huggingface.co"):
        assert g.hub.has_name(name)
    assert not g.hub.has_name("huggingface.co.evil.com") and not g.hub.has_name("evilhf.co")


def test_name_resolving_to_loopback_is_refused_unless_listed(env, server):
    url = server.url.replace("127.0.0.1", "localhost") + "/m.gguf"
    env.setenv(VAR, "*")  # any public host: localhost resolves to loopback, so still refused
    before = _seen(server)
    with pytest.raises(FetchRefused, match="private.*resolves to 127.0.0.1"):
        open_location(url, FetchGuard.from_env())
    assert _seen(server) == before  # nothing reached the server
    env.setenv(VAR, "localhost")  # the operator lists the name: allowed
    assert open_location(url, FetchGuard.from_env()).file_type == "Q8_0"


def test_listed_network_allows_loopback(env, server):
    env.setenv(VAR, "127.0.0.0/8")
    assert open_location(server.url + "/m.gguf", FetchGuard.from_env()).file_type == "Q8_0"


def test_hub_stand_in_on_loopback_needs_the_variable(env, server):
    env.setenv("HF_ENDPOINT", server.url)  # HF_ENDPOINT's host is a Hub host, but a loopback one: not by default
    before = _seen(server)
    with pytest.raises(FetchRefused, match=f"private.*{VAR}"):
        inspect_repo("org/tiny", guard=FetchGuard.from_env())
    with pytest.raises(FetchRefused, match=VAR):
        open_location("hf://org/tiny/tiny-Q8_0.gguf", FetchGuard.from_env())
    assert _seen(server) == before
    env.setenv(VAR, "127.0.0.1")
    g = FetchGuard.from_env()
    repo = inspect_repo("org/tiny", guard=g)  # model info, config.json, index, two shard headers (in threads)
    assert sum(t.n_bytes for t in repo.tensors) == sum(_nbytes(d, s) for _, d, s in _tensors())
    assert open_location("hf://org/tiny/tiny-Q8_0.gguf", g).file_type == "Q8_0"


def test_redirect_to_a_disallowed_host_is_refused_mid_chain(env, server):
    env.setenv(VAR, "127.0.0.1")
    g = FetchGuard.from_env()
    port = server.url.rsplit(":", 1)[1]
    server.state.redirects.update(
        {
            "/hop1.gguf": "/hop2.gguf",  # same host: followed
            "/hop2.gguf": f"http://[::1]:{port}/m.gguf",  # loopback, but not the listed 127.0.0.1: refused
            "/public.gguf": "https://example.com/m.gguf",  # a public host nobody listed: refused
            "/meta.gguf": "http://169.254.169.254/latest/meta-data/",
            "/ok.gguf": "/m.gguf",
        }
    )
    before = _seen(server)
    with pytest.raises(FetchRefused, match="'::1'.*private"):
        open_location(server.url + "/hop1.gguf", g)
    paths = [p for _, p, _ in server.state.requests[before:]]
    assert paths == ["/hop1.gguf", "/hop2.gguf"]  # the refused hop was never requested
    with pytest.raises(FetchRefused, match="'example.com' is not allowed"):
        open_location(server.url + "/public.gguf", g)
    with pytest.raises(FetchRefused, match="169.254.169.254"):
        open_location(server.url + "/meta.gguf", g)
    assert open_location(server.url + "/ok.gguf", g).file_type == "Q8_0"  # an allowed redirect is followed


def test_authorization_is_dropped_on_a_redirect_to_another_origin(env, server):
    env.setenv(VAR, "127.0.0.1, localhost")
    port = server.url.rsplit(":", 1)[1]
    server.state.redirects["/x-origin.gguf"] = f"http://localhost:{port}/m.gguf"
    before = len(server.state.auth_headers)
    from model_specs.remote import open_gguf

    open_gguf(server.url + "/x-origin.gguf", headers={"Authorization": "Bearer hf_x"}, guard=FetchGuard.from_env())
    assert server.state.auth_headers[before:][:2] == ["Bearer hf_x", None]


def _rebinding(monkeypatch, name: str) -> None:
    """`name` resolves to a public address at the check, then to loopback (a DNS rebinding attack)."""
    real = socket.getaddrinfo
    answers = iter(["93.184.216.34"])

    def fake(host, port, *a, **k):
        if host != name:
            return real(host, port, *a, **k)
        return [(socket.AF_INET, socket.SOCK_STREAM, 6, "", (next(answers, "127.0.0.1"), port))]

    monkeypatch.setattr(socket, "getaddrinfo", fake)


def test_dns_rebinding_is_caught_at_connect(env, server):
    env.setenv(VAR, "*")
    _rebinding(env, "rebind.example")
    url = server.url.replace("127.0.0.1", "rebind.example") + "/m.gguf"
    before = _seen(server)
    with pytest.raises(FetchRefused, match="resolves to 127.0.0.1"):
        open_location(url, FetchGuard.from_env())
    assert _seen(server) == before


def test_dns_rebinding_of_the_hub_endpoint_is_caught_at_connect(env, server):
    env.setenv("HF_ENDPOINT", server.url.replace("127.0.0.1", "hub.example"))
    _rebinding(env, "hub.example")
    before = _seen(server)
    with pytest.raises(FetchRefused, match="resolves to 127.0.0.1"):
        inspect_repo("org/tiny", guard=FetchGuard.from_env())
    assert _seen(server) == before


# ------------------------------------------------------------------------------------------------- paths


@pytest.fixture
def model_dir(env, tmp_path):
    models = tmp_path / "models"
    models.mkdir()
    _gguf(models / "m.gguf")
    _gguf(tmp_path / "secret.gguf")
    (tmp_path / "models-evil").mkdir()
    _gguf(tmp_path / "models-evil" / "m.gguf")
    env.setenv("MODEL_DIR", str(models))
    return models


def test_local_paths_are_off_without_model_dir(env, tmp_path):
    _gguf(tmp_path / "m.gguf")
    with pytest.raises(FetchRefused, match="set MODEL_DIR"):
        open_location(str(tmp_path / "m.gguf"), FetchGuard.from_env())


def test_model_dir_paths_are_read(model_dir):
    g = FetchGuard.from_env()
    assert open_location("m.gguf", g).file_type == "Q8_0"  # relative: inside MODEL_DIR
    assert open_location(str(model_dir / "m.gguf"), g).file_type == "Q8_0"
    assert open_location(str(model_dir / "sub" / ".." / "m.gguf"), g).file_type == "Q8_0"


@pytest.mark.parametrize("path", ["../secret.gguf", "{d}/../secret.gguf", "{d}-evil/m.gguf", "/etc/passwd"])
def test_path_escape_is_refused(model_dir, path):
    with pytest.raises(FetchRefused, match="outside MODEL_DIR"):
        open_location(path.format(d=model_dir), FetchGuard.from_env())


def test_symlink_escape_is_refused(model_dir):
    (model_dir / "link.gguf").symlink_to(model_dir.parent / "secret.gguf")
    (model_dir / "linkdir").symlink_to(model_dir.parent)
    g = FetchGuard.from_env()
    for p in ("link.gguf", "linkdir/secret.gguf", str(model_dir / "link.gguf")):
        with pytest.raises(FetchRefused, match="outside MODEL_DIR"):
            open_location(p, g)
    (model_dir / "inside.gguf").symlink_to(model_dir / "m.gguf")  # a link that stays inside is fine
    assert open_location("inside.gguf", g).file_type == "Q8_0"


def test_split_shard_symlinked_outside_is_refused(model_dir):
    _gguf(model_dir / "s.gguf", split=6)
    shards = sorted(p.name for p in model_dir.glob("s-*.gguf"))
    assert len(shards) >= 2
    g = FetchGuard.from_env()
    assert len(open_location(shards[0], g).shards) == len(shards)
    last = model_dir / shards[-1]
    os.replace(last, model_dir.parent / shards[-1])
    last.symlink_to(model_dir.parent / shards[-1])
    with pytest.raises(FetchRefused, match="outside MODEL_DIR"):
        open_location(shards[0], g)


def test_other_schemes_are_refused(model_dir):
    with pytest.raises(ValueError, match="only http"):
        open_location("file:///etc/passwd", FetchGuard.from_env())


@pytest.mark.parametrize("host", ["2130706433", "0x7f000001", "127.1", "LOCALHOST.", "[::ffff:127.0.0.1]"])
def test_odd_spellings_of_loopback_are_refused_even_with_star(env, server, host):
    env.setenv(VAR, "*")
    port = server.url.rsplit(":", 1)[1]
    before = _seen(server)
    with pytest.raises(FetchRefused, match="private"):
        open_location(f"http://{host}:{port}/m.gguf", FetchGuard.from_env())
    assert _seen(server) == before


# ------------------------------------------------------------------------------------------------- TLS


@pytest.fixture(scope="module")
def tls_server(server, tmp_path_factory):
    """The same files over HTTPS with a self-signed certificate for the name 'localhost' only."""
    if shutil.which("openssl") is None:
        pytest.skip("openssl not installed")
    d = tmp_path_factory.mktemp("tls")
    cert, key = d / "cert.pem", d / "key.pem"
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", str(key), "-out", str(cert),
         "-days", "1", "-subj", "/CN=localhost", "-addext", "subjectAltName=DNS:localhost"],
        check=True, capture_output=True, timeout=60,
    )  # fmt: skip
    ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ctx.load_cert_chain(cert, key)
    srv = FileServer(server.state.root)
    srv.httpd.socket = ctx.wrap_socket(srv.httpd.socket, server_side=True)
    with srv:
        yield srv, cert


def test_tls_is_verified_against_the_name_while_the_address_is_pinned(env, tls_server):
    srv, cert = tls_server
    port = srv.url.rsplit(":", 1)[1]
    env.setenv("REQUESTS_CA_BUNDLE", str(cert))
    env.setenv(VAR, "localhost, 127.0.0.1")
    g = FetchGuard.from_env()
    assert open_location(f"https://localhost:{port}/m.gguf", g).file_type == "Q8_0"  # SNI + check on 'localhost'
    with pytest.raises(GGUFError, match="cannot reach.*SSLError"):  # the cert does not name 127.0.0.1
        open_location(f"https://127.0.0.1:{port}/m.gguf", g)


def test_hub_client_over_tls_with_the_guard(env, tls_server):
    srv, cert = tls_server
    env.setenv("SSL_CERT_FILE", str(cert))
    env.setenv("HF_ENDPOINT", srv.url.replace("http://127.0.0.1", "https://localhost"))
    env.setenv(VAR, "localhost")
    close_session()  # the shared client reads SSL_CERT_FILE when it is created
    try:
        repo = inspect_repo("org/tiny", guard=FetchGuard.from_env())
    finally:
        close_session()
    assert len(repo.tensors) == len(_tensors())
