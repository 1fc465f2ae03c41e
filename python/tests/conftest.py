"""Shared fixtures: where the built-in model is (the repository's models/ folder, fetched by
scripts/fetch-model.sh, or $VECTORLITE_MODEL_DIR)."""

from __future__ import annotations

import os
import pathlib

import pytest

REPO = pathlib.Path(__file__).resolve().parents[2]


@pytest.fixture(scope="session")
def model_dir() -> str:
    candidate = os.environ.get("VECTORLITE_MODEL_DIR") or str(REPO / "models" / "all-MiniLM-L6-v2")
    if not (pathlib.Path(candidate) / "config.json").is_file():
        pytest.fail(f"the built-in model is not in {candidate}: run scripts/fetch-model.sh")
    return candidate
