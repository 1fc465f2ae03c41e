"""What the peer benchmark scripts share: reading the exchange format of `vectorlite bench
--export` and timing a search one query at a time, measured the same way for every peer."""

from __future__ import annotations

import json
import statistics
import time
from pathlib import Path

import numpy as np


def read_data(data: Path) -> tuple[int, np.ndarray, np.ndarray]:
    """The dimension, base vectors and query vectors of an exported data directory."""
    dim = json.loads((data / "meta.json").read_text())["dim"]
    base = np.ascontiguousarray(
        np.fromfile(data / "base.f32", dtype="<f4").reshape(-1, dim)
    )
    queries = np.ascontiguousarray(
        np.fromfile(data / "queries.f32", dtype="<f4").reshape(-1, dim)
    )
    return dim, base, queries


def timed(queries: np.ndarray, search) -> tuple[list[list[int]], float, float, float]:
    """Results, QPS and p50/p99 microseconds of `search(q)` one query at a time."""
    for q in queries[:20]:
        search(q)
    found, lat = [], []
    start = time.perf_counter()
    for q in queries:
        t = time.perf_counter()
        found.append(search(q))
        lat.append((time.perf_counter() - t) * 1e6)
    qps = len(queries) / (time.perf_counter() - start)
    lat.sort()
    return found, qps, statistics.median(lat), lat[int(0.99 * (len(lat) - 1))]
