"""Each peer in its own virtual environment under a cache folder, installed from the registry
as its users would install it, so no peer's pins touch effmesh's or another peer's."""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import sys
from pathlib import Path

CACHE = Path(
    os.environ.get("EFFMESH_PEERS_CACHE", Path(__file__).resolve().parents[2] / ".cache" / "peers")
)


def python_for(version: str) -> str:
    """An interpreter of ``version`` ("3.11", "3.12"): this one when it matches, else one on
    PATH or under pyenv.

    Raises:
        FileNotFoundError: no such interpreter on this machine.
    """
    if f"{sys.version_info[0]}.{sys.version_info[1]}" == version:
        return sys.executable
    found = shutil.which(f"python{version}")
    if found:
        return found
    root = Path(os.environ.get("PYENV_ROOT", Path.home() / ".pyenv")) / "versions"
    for candidate in sorted(root.glob(f"{version}.*"), reverse=True):
        exe = candidate / "bin" / "python"
        if exe.exists():
            return str(exe)
    raise FileNotFoundError(f"no Python {version} on this machine")


def ensure(name: str, requirements: list[str], *, python: str = "3.11") -> Path:
    """The ``bin/python`` of the venv ``name`` holding exactly ``requirements``; created on
    first use and reused while the requirements are unchanged.

    Raises:
        FileNotFoundError: no interpreter of ``python``.
        subprocess.CalledProcessError: pip could not install the requirements (the caller
            reports the peer as unable to run, with pip's last lines).
    """
    root = CACHE / name
    exe = root / "bin" / "python"
    key = hashlib.sha256("\n".join([python, *requirements]).encode()).hexdigest()
    stamp = root / ".effmesh-installed"
    if exe.exists() and stamp.exists() and stamp.read_text() == key:
        return exe
    shutil.rmtree(root, ignore_errors=True)
    subprocess.run([python_for(python), "-m", "venv", str(root)], check=True)
    subprocess.run(
        [str(exe), "-m", "pip", "install", "-q", "--disable-pip-version-check", *requirements],
        check=True,
        capture_output=True,
        text=True,
    )
    stamp.write_text(key)
    return exe
