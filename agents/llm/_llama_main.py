"""Child process that serves the bundled model with llama.cpp: ``python -m agents.llm._llama_main``.

It runs until it is terminated. The parent (:mod:`agents.llm.embedded`) chose the port and
waits for ``/health``; llama.cpp's server threads do all the work, so this process only sleeps.
"""

from __future__ import annotations

import argparse
import ctypes
import os
import signal
import sys
import threading
from typing import NoReturn

import xllamacpp


def _die_with_parent() -> None:
    """Ask Linux to send SIGTERM here when the gateway exits, even by SIGKILL, so a model
    server is never left behind (a no-op elsewhere)."""
    if not sys.platform.startswith("linux"):
        return
    libc = ctypes.CDLL(None, use_errno=True)
    pr_set_pdeathsig = 1
    libc.prctl(pr_set_pdeathsig, signal.SIGTERM)


def main(argv: list[str] | None = None) -> NoReturn:
    parser = argparse.ArgumentParser(prog="effmesh-llama")
    parser.add_argument("--model", required=True)
    parser.add_argument("--alias", required=True)
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--parallel", type=int, default=4)
    parser.add_argument("--context", type=int, default=4096, help="tokens per slot")
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args(argv)
    _die_with_parent()
    params = xllamacpp.CommonParams()
    params.model.path = args.model
    params.model_alias = {args.alias}
    params.use_jinja = True
    params.n_parallel = args.parallel
    params.n_ctx = args.context * args.parallel
    params.hostnames = ["127.0.0.1"]
    params.port = args.port
    params.cpuparams.n_threads = args.threads
    params.cpuparams_batch.n_threads = args.threads
    _server = xllamacpp.Server(params)  # held: it serves until the process exits
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    stop.wait()
    # Exit at once: the server holds no state worth flushing, and tearing down its HTTP
    # threads can wait on open connections, which would leave a process behind.
    os._exit(0)


if __name__ == "__main__":
    main()
