"""The README's Python examples run as written (in a scratch directory, with the built-in
model from the repository's models/ folder)."""

from __future__ import annotations

import pathlib
import re

README = pathlib.Path(__file__).resolve().parents[2] / "README.md"


def python_blocks(heading: str = "## Python") -> list[str]:
    section = README.read_text().split(heading, 1)[1].split("\n## ", 1)[0]
    return re.findall(r"```python\n(.*?)```", section, re.DOTALL)


def test_the_readme_python_examples_run(tmp_path, monkeypatch, model_dir):
    blocks = python_blocks()
    assert len(blocks) >= 2, "the README lost its Python examples"
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("VECTORLITE_MODEL_DIR", model_dir)
    for block in blocks:
        exec(compile(block, str(README), "exec"), {"__name__": "readme"})  # noqa: S102
    assert (tmp_path / "agent-memory" / "LOCK").exists()


def test_the_readme_hand_off_example_runs(tmp_path, monkeypatch):
    blocks = python_blocks("## When you outgrow one machine")
    assert len(blocks) == 1, "the README lost its hand-off example"
    monkeypatch.chdir(tmp_path)
    exec(compile(blocks[0], str(README), "exec"), {"__name__": "readme"})  # noqa: S102
    assert (tmp_path / "notes.parquet").exists() and (tmp_path / "lance").is_dir()
