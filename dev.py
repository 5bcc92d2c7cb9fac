#!/usr/bin/env python3
"""Run the registry from a fresh clone with nothing but Python 3.11+.

    python3 dev.py serve --demo     start the service with demonstration data
    python3 dev.py test [ARGS]      run the whole test suite (ARGS go to pytest)
    python3 dev.py COMMAND [ARGS]   any other `registry` command (migrate, verify, bench, ...)

The first run creates .venv/ in the project folder and installs the project
with its test extra into it; later runs reinstall only when pyproject.toml has
changed. Standard library only, on purpose.
"""

from __future__ import annotations

import fcntl
import hashlib
import os
import subprocess
import sys
import venv
from pathlib import Path

PROJECT = Path(__file__).resolve().parent
VENV = PROJECT / ".venv"
BIN = VENV / ("Scripts" if os.name == "nt" else "bin")
STAMP = VENV / ".installed"


def say(message: str) -> None:
    print(f"dev.py: {message}", file=sys.stderr, flush=True)


def ensure_environment() -> None:
    if sys.version_info < (3, 11):  # noqa: UP036 (dev.py may be started by an older python3)
        sys.exit("dev.py: the registry needs Python 3.11 or newer")
    wanted = hashlib.sha256((PROJECT / "pyproject.toml").read_bytes()).hexdigest()
    VENV.mkdir(exist_ok=True)
    with open(VENV / ".lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # two first runs at once install once
        if STAMP.exists() and STAMP.read_text() == wanted:
            return
        if not (BIN / "python").exists():
            say(f"creating a virtual environment in {VENV}")
            venv.EnvBuilder(with_pip=True).create(VENV)
        say("installing the registry, its test tools and the benchmark's peer (first run only; about a minute)")
        subprocess.run(
            [str(BIN / "python"), "-m", "pip", "install", "--quiet", "--disable-pip-version-check",
             "--editable", f"{PROJECT}[test,bench]"],
            check=True,
        )  # fmt: skip
        STAMP.write_text(wanted)


def main(argv: list[str]) -> int:
    if not argv or argv[0] in ("-h", "--help"):
        print(__doc__)
        return 0 if argv else 2
    ensure_environment()
    if argv[0] == "test":
        command = [str(BIN / "python"), "-m", "pytest", *argv[1:]]
    else:
        command = [str(BIN / "registry"), *argv]
    os.chdir(PROJECT)
    os.execv(command[0], command)
    return 0  # not reached


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
