"""Shared fixtures and helpers: where the built-in model is (the repository's models/ folder,
fetched by scripts/fetch-model.sh, or $VECTORLITE_MODEL_DIR), where the `vectorlite` binary is,
and a running `vectorlite serve`."""

from __future__ import annotations

import contextlib
import json
import os
import pathlib
import subprocess
import time
import urllib.request
from collections.abc import Iterator

import pytest

REPO = pathlib.Path(__file__).resolve().parents[2]


@pytest.fixture(scope="session")
def model_dir() -> str:
    candidate = os.environ.get("VECTORLITE_MODEL_DIR") or str(REPO / "models" / "all-MiniLM-L6-v2")
    if not (pathlib.Path(candidate) / "config.json").is_file():
        pytest.fail(f"the built-in model is not in {candidate}: run scripts/fetch-model.sh")
    return candidate


def binary() -> str:
    """The `vectorlite` binary under test ($VECTORLITE_BIN, or the debug build)."""
    path = os.environ.get("VECTORLITE_BIN") or str(REPO / "target" / "debug" / "vectorlite")
    if not os.path.exists(path):
        pytest.fail(f"no vectorlite binary at {path}: build it (cargo build) or set VECTORLITE_BIN")
    return path


@contextlib.contextmanager
def serving(data_dir: pathlib.Path, model_dir: str, *flags: str) -> Iterator[str]:
    """`vectorlite serve` on `data_dir` with `flags`, on a free port, until the block ends;
    yields its URL once /health says ok, and checks that SIGTERM stops it cleanly."""
    command = [binary(), "serve", "--port", "0", "--data-dir", str(data_dir), "--model-dir", model_dir, *flags]
    proc = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    line = proc.stdout.readline()
    assert line.startswith("listening on "), line
    url = line.split()[-1]
    deadline = time.time() + 60
    while time.time() < deadline:
        try:
            with urllib.request.urlopen(url + "/health") as r:
                if json.loads(r.read())["status"] == "ok":
                    break
        except OSError:
            pass
        time.sleep(0.05)
    yield url
    proc.terminate()
    assert proc.wait(timeout=30) == 0, "SIGTERM stops the server cleanly"
