"""The process environment as a user may leave it: stdout/stderr closed or full, an
encoding without the characters to print, proxies httpx cannot use, certificates missing
or garbage, HF_ENDPOINT malformed, a host label too long, HF_TOKEN not ASCII, HF_TOKEN_PATH
at /dev/zero, a directory, non-UTF-8 bytes or a FIFO. Real processes, the variables set per
case; each ends in one `Error:` line and exit 2 (or, for encodings, escapes and exit 0).
"""

from __future__ import annotations

import json
import os
import struct
import subprocess
import sys
from pathlib import Path

import pytest

from tests.helpers.hostile import CASE_SECONDS, ROOT

NAME = "ñé▁日本.embed_tokens.weight"


@pytest.fixture
def model(tmp_path: Path) -> Path:
    """A table whose tensor name is not ASCII: every output prints it."""
    data = struct.pack("<8f", *range(8))
    raw = json.dumps({NAME: {"dtype": "F32", "shape": [2, 4], "data_offsets": [0, 32]}}).encode()
    path = tmp_path / "u.safetensors"
    path.write_bytes(struct.pack("<Q", len(raw)) + raw + data)
    return path


def _env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("HF_", "EMB_"))}
    for var in ("HTTPS_PROXY", "https_proxy", "HTTP_PROXY", "http_proxy", "ALL_PROXY"):
        env.pop(var, None)
    env.update(PYTHONPATH=str(ROOT), HF_HUB_CACHE=str(Path("/nonexistent-emb-cache")))
    env.update(extra)
    return env


def _run(
    args: list[str], env: dict[str, str], shell_redirect: str = ""
) -> subprocess.CompletedProcess[str]:
    """`python -m emb_cli ARGS` in a shell that applies `shell_redirect` (`>&-`, ...)."""
    cmd = [sys.executable, "-m", "emb_cli", *args]
    if shell_redirect:
        cmd = ["sh", "-c", f'"$@" {shell_redirect}', "sh", *cmd]
    return subprocess.run(
        cmd, capture_output=True, text=True, env=env, timeout=CASE_SECONDS * 2, errors="replace"
    )


def _one_error(r: subprocess.CompletedProcess[str], *needles: str) -> None:
    assert r.returncode == 2, (r.returncode, r.stdout, r.stderr)
    assert r.stdout == ""
    lines = r.stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith("Error: "), r.stderr
    assert "internal error" not in r.stderr and "Traceback" not in r.stderr
    for needle in needles:
        assert needle in lines[0], (needle, lines[0])


# ---------------------------------------------------------------- encodings

ENCODINGS = {
    "ascii": {"PYTHONIOENCODING": "ascii"},
    "latin-1": {"PYTHONIOENCODING": "latin-1"},
    "c-locale": {"LC_ALL": "C", "PYTHONUTF8": "0", "PYTHONCOERCECLOCALE": "0"},
}


@pytest.mark.parametrize("output", ["human", "tsv"])
@pytest.mark.parametrize("encoding", ENCODINGS)
def test_a_stream_without_the_characters_gets_escapes(
    model: Path, encoding: str, output: str
) -> None:
    args = ["info", str(model)] + (["--tsv"] if output == "tsv" else [])
    r = _run(args, _env(**ENCODINGS[encoding]))
    assert r.returncode == 0, r.stderr
    assert "\\u2581\\u65e5\\u672c.embed_tokens.weight" in r.stdout, r.stdout


def test_json_is_ascii_whatever_the_encoding(model: Path) -> None:
    r = _run(["info", str(model), "--json"], _env(PYTHONIOENCODING="ascii"))
    assert r.returncode == 0 and json.loads(r.stdout)["embedding"] == NAME


# ---------------------------------------------------------------- closed and full streams

STDOUT_CASES = {"closed": ">&-", "dev-full": ">/dev/full"}


@pytest.mark.parametrize("output", ["human", "json", "tsv"])
@pytest.mark.parametrize("case", STDOUT_CASES)
def test_stdout_that_takes_nothing_is_exit_2(model: Path, case: str, output: str) -> None:
    extra = {"human": [], "json": ["--json"], "tsv": ["--tsv"]}[output]
    r = _run(["lookup", "0", "1", "--from", str(model), *extra], _env(), STDOUT_CASES[case])
    assert r.returncode == 2, (r.returncode, r.stderr)
    lines = r.stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith("Error: "), r.stderr
    assert ("closed" if case == "closed" else "No space left") in lines[0]


STDERR_CASES = {"closed": "2>&-", "dev-full": "2>/dev/full", "both-closed": ">&- 2>&-"}


@pytest.mark.parametrize("error", ["bad-input", "usage"])
@pytest.mark.parametrize("case", STDERR_CASES)
def test_stderr_that_takes_nothing_keeps_exit_2(tmp_path: Path, case: str, error: str) -> None:
    args = (
        ["info", str(tmp_path / "missing.safetensors")]
        if error == "bad-input"
        else ["lookup", "--no-such-flag"]
    )
    r = _run(args, _env(), STDERR_CASES[case])
    assert r.returncode == 2, (r.returncode, r.stdout, r.stderr)


def test_stderr_closed_on_success_is_exit_0(model: Path) -> None:
    r = _run(["info", str(model)], _env(), "2>&-")
    assert r.returncode == 0 and "embed_tokens" in r.stdout


# ---------------------------------------------------------------- the network's settings

URL = "https://127.0.0.1:1/m.safetensors"  # nothing listens: no case may get that far


def _garbage_pem(tmp: Path) -> str:
    (tmp / "garbage.pem").write_text("-----BEGIN CERTIFICATE-----\nnot base64\n")
    return str(tmp / "garbage.pem")


def _token_file(tmp: Path, kind: str) -> str:
    path = tmp / "token"
    if kind == "fifo":
        os.mkfifo(path)
    elif kind == "directory":
        path.mkdir()
    elif kind == "not-utf8":
        path.write_bytes(b"hf_\xff\xfe\x80abc")
    elif kind == "huge":
        with open(path, "wb") as fh:
            fh.truncate(2**31)  # sparse: read whole it would cost 2 GB
    elif kind == "dev-zero":
        path.symlink_to("/dev/zero")
    return str(path)


NETWORK = {
    "socks5-without-socksio": (lambda t: {"HTTPS_PROXY": "socks5://127.0.0.1:1"}, URL, "SOCKS"),
    "socks4-proxy": (lambda t: {"HTTPS_PROXY": "socks4://127.0.0.1:1"}, URL, "proxy"),
    "ftp-proxy": (lambda t: {"HTTPS_PROXY": "ftp://127.0.0.1:1"}, URL, "proxy"),
    "proxy-password": (
        lambda t: {"HTTPS_PROXY": "ftp://u:pw1234secret@127.0.0.1:1"},
        URL,
        "***@",
    ),
    "cert-file-missing": (lambda t: {"SSL_CERT_FILE": str(t / "none.pem")}, URL, "SSL_CERT_FILE"),
    "cert-file-garbage": (lambda t: {"SSL_CERT_FILE": _garbage_pem(t)}, URL, "certificates"),
    "endpoint-bad-ipv6": (lambda t: {"HF_ENDPOINT": "https://[::1"}, "hf://org/x", "HF_ENDPOINT"),
    "endpoint-port-99999": (
        lambda t: {"HF_ENDPOINT": "https://127.0.0.1:99999"},
        "hf://org/x",
        "HF_ENDPOINT",
    ),
    "endpoint-not-http": (lambda t: {"HF_ENDPOINT": "ftp://hub"}, "hf://org/x", "HF_ENDPOINT"),
    "url-bad-ipv6": (lambda t: {}, "https://[::1/m.safetensors", "not a valid URL"),
    "url-port-99999": (lambda t: {}, "https://127.0.0.1:99999/m.safetensors", "not a valid URL"),
    "url-label-64": (lambda t: {}, f"https://{'a' * 64}.example/m.safetensors", "63"),
    "url-name-254": (lambda t: {}, f"https://{'a.' * 127}example/m.safetensors", "253"),
    "token-non-ascii": (
        lambda t: {"HF_ENDPOINT": "https://127.0.0.1:1", "HF_TOKEN": "hf_tökén"},
        "hf://org/x",
        "HF_TOKEN",
    ),
    "token-control-char": (
        lambda t: {"HF_ENDPOINT": "https://127.0.0.1:1", "HF_TOKEN": "hf_a\x1bb"},
        "hf://org/x",
        "HF_TOKEN",
    ),
}
for _kind in ("fifo", "directory", "not-utf8", "huge", "dev-zero"):
    NETWORK[f"token-path-{_kind}"] = (
        lambda t, k=_kind: {
            "HF_ENDPOINT": "https://127.0.0.1:1",
            "HF_TOKEN_PATH": _token_file(t, k),
        },
        "hf://org/x",
        "HF_TOKEN_PATH",
    )


@pytest.mark.parametrize("case", NETWORK)
def test_a_network_setting_that_cannot_work_is_one_line(tmp_path: Path, case: str) -> None:
    make_env, source, needle = NETWORK[case]
    env = _env(**make_env(tmp_path))
    r = _run(["lookup", "0", "--from", source], env)
    _one_error(r, needle)
    assert "tökén" not in r.stderr and "pw1234secret" not in r.stderr


@pytest.mark.parametrize("args", [["--help"], ["--version"], ["presets"]])
def test_help_and_version_onto_a_full_stdout(args: list[str]) -> None:
    r = _run(args, _env(), ">/dev/full")
    assert r.returncode == 2, (r.returncode, r.stderr)
    assert r.stderr.startswith("Error: cannot write the result") and r.stderr.count("\n") == 1


def test_help_into_a_pipe_closed_early_is_141() -> None:
    """`emb --help | head -1`: Click's own EPIPE exit (1) becomes the documented 141."""
    cmd = f'"{sys.executable}" -m emb_cli --help | head -c 1 >/dev/null; echo ${{PIPESTATUS[0]}}'
    env = _env()
    r = subprocess.run(["bash", "-c", cmd], capture_output=True, text=True, env=env, timeout=30)
    assert r.stdout.strip() in ("141", "0"), r  # 0: the help fitted the pipe before head left
