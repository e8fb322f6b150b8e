"""Helpers shared by tests/test_cli.py and tests/test_cli_output.py: running the CLI, writing specs."""

import os
import subprocess
import sys
from pathlib import Path

from click.testing import CliRunner

from qmpmodel.cli import main

ROOT = Path(__file__).resolve().parents[1]
P_SPEC = "specs/bugs/P-reply-to-next-session.toml"
P_FIXED = "specs/bugs/P-fixed-discard-stale-reply.toml"
#: Subprocesses import this checkout's package whatever their working directory.
ENV = {**os.environ, "PYTHONPATH": str(ROOT)}


def run(*args, cwd=ROOT, env=None, umask=None):
    return subprocess.run([sys.executable, "-m", "qmpmodel.cli", *args], cwd=cwd, capture_output=True, text=True,
                          env=env or ENV, preexec_fn=(lambda: os.umask(umask)) if umask is not None else None)


def cli(*args):
    """The CLI in-process (faster than a subprocess), from the repository root."""
    cwd = Path.cwd()
    os.chdir(ROOT)
    try:
        return CliRunner().invoke(main, list(args), catch_exceptions=False)
    finally:
        os.chdir(cwd)


def write(tmp_path, text, name="spec.toml"):
    p = tmp_path / name
    p.write_text(text)
    return p


def unpinned_p(tmp_path):
    """Bug P's bounds with nothing pinned: no-cross-session-reply is expected to hold, and is violated (§7 P)."""
    text = (ROOT / P_SPEC).read_text()
    return write(tmp_path, text[: text.index("[expect]")], "P-unpinned.toml")
