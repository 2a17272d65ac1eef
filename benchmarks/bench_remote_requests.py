"""Bytes and requests of remote reads, counted by the test range server (not a timing).

Serves a 20 MB float32 table (20000 x 256) from 127.0.0.1 with the range server of
tests/helpers/range_server.py and runs remote commands in-process, printing what the client
says it fetched (--verbose) next to what the server counted. Run it on two checkouts to
compare them side by side:

    PYTHONPATH=$PWD python benchmarks/bench_remote_requests.py
"""

from __future__ import annotations

import os
import sys
import tempfile
import threading
from http.server import ThreadingHTTPServer
from pathlib import Path


def main() -> int:
    import numpy as np
    from safetensors.numpy import save_file
    from typer.testing import CliRunner

    from emb_cli.cli import app
    from tests.helpers.range_server import Server, _handler

    root = Path(tempfile.mkdtemp(prefix="emb-remote-bench-"))
    table = np.random.default_rng(0).standard_normal((20000, 256), dtype=np.float32)
    for folder in (root / "big", root / "hub" / "org" / "big"):
        folder.mkdir(parents=True)
        save_file({"model.embed_tokens.weight": table}, str(folder / "model.safetensors"))
    srv = Server(root, 0)
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), _handler(srv))
    srv.port = httpd.server_address[1]
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    for var in ("http_proxy", "https_proxy", "HTTP_PROXY", "HTTPS_PROXY", "HF_TOKEN"):
        os.environ.pop(var, None)
    os.environ["no_proxy"] = "127.0.0.1,localhost"
    env = {"HF_ENDPOINT": f"http://127.0.0.1:{srv.port}", "COLUMNS": "200"}
    url = srv.url("files/big/model.safetensors")
    runs = [
        ("lookup 0 5 12345 19999 (URL)", ["lookup", "0", "5", "12345", "19999", "--from", url]),
        ("stats (URL)", ["stats", "--from", url]),
        (
            "lookup 0 5 12345 19999 (hf://)",
            ["lookup", "0", "5", "12345", "19999", "--from", "hf://org/big"],
        ),
    ]
    runner = CliRunner()
    print(f"{'command':34} {'client says':42} {'server: requests':>16} {'bytes sent':>11}")
    for label, args in runs:
        srv.clear()
        r = runner.invoke(app, [*args, "--json", "--verbose"], env=env)
        assert r.exit_code == 0, (r.stdout, r.stderr)
        said = r.stderr.strip().splitlines()[-1]
        print(f"{label:34} {said:42} {len(srv.hits):>16} {srv.sent():>11,}")
    httpd.shutdown()
    httpd.server_close()
    for p in sorted(root.rglob("*"), reverse=True):
        p.unlink() if p.is_file() else p.rmdir()
    root.rmdir()
    return 0


if __name__ == "__main__":
    sys.exit(main())
