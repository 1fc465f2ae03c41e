#!/usr/bin/env python3
"""Filtered search in the peers, on the data and filters of `vectorlite bench`, for the
side-by-side rows of BENCHMARKS.md.

The filters are those the bench assigns by row number (so external data gets them too):
`bucket = row % 100` (10%: bucket < 10, 1%: bucket == 0, unrelated to where a vector lies)
and `corner` (the 10% of vectors with the largest first coordinate: a filter that follows the
data). Peers, one query per call on one thread (as an agent queries):

- faiss HNSW (M 16, ef_construction 200, inner product) with an `IDSelectorBitmap`,
- faiss flat (exact) search with the same selector,
- numpy over the matching rows gathered once per filter (a scan that pays nothing for the filter),
  its BLAS held to one thread (unset, it splits a 10% product over both cores).

The selectors and gathered rows are built once per filter, outside the timings: the peers are
given their filter for free, while vectorlite's figures include turning the filter into rows.

    pip install faiss-cpu numpy
    python scripts/bench-filtered-peers.py --data DIR [--ef 16,32,64,128,256]

Data: the shared exchange format (meta.json, base.f32, queries.f32, gt.i32), e.g. from
`vectorlite bench --export DIR`.
"""

from __future__ import annotations

import argparse
import os
import time
from pathlib import Path

# One thread for numpy's BLAS too (it would otherwise split a large product over every core);
# set before numpy loads its BLAS.
for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")

import numpy as np
from peers_common import read_data, timed

K = 10


def filters(base: np.ndarray) -> dict[str, np.ndarray]:
    """The bench's filters as boolean masks over the rows."""
    rows = np.arange(len(base))
    firsts = np.sort(base[:, 0])
    cut = firsts[len(firsts) * 9 // 10]
    return {
        "10%": rows % 100 < 10,
        "1%": rows % 100 == 0,
        "10% correlated": base[:, 0] >= cut,
    }


def exact_top(
    base: np.ndarray, queries: np.ndarray, mask: np.ndarray
) -> list[list[int]]:
    """Exact filtered top-k by inner product (ties by row number)."""
    ids = np.flatnonzero(mask)
    scores = queries @ base[ids].T
    out = []
    for row in scores:
        order = np.lexsort((ids, -row))[:K]
        out.append(ids[order].tolist())
    return out


def recall(found: list[list[int]], truth: list[list[int]]) -> float:
    hits = sum(len(set(f[:K]) & set(t[:K])) for f, t in zip(found, truth))
    return hits / sum(min(K, len(t)) for t in truth)


def main() -> None:
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("--data", type=Path, required=True)
    ap.add_argument("--ef", default="16,32,64,128,256")
    ap.add_argument("--build-threads", type=int, default=2)
    args = ap.parse_args()
    import faiss

    dim, base, queries = read_data(args.data)
    efs = [int(e) for e in args.ef.split(",")]

    faiss.omp_set_num_threads(args.build_threads)
    hnsw = faiss.IndexHNSWFlat(dim, 16, faiss.METRIC_INNER_PRODUCT)
    hnsw.hnsw.efConstruction = 200
    start = time.perf_counter()
    hnsw.add(base)
    print(
        f"faiss {faiss.__version__}: HNSW built in {time.perf_counter() - start:.1f} s"
    )
    flat = faiss.IndexFlatIP(dim)
    flat.add(base)
    faiss.omp_set_num_threads(1)

    print("| engine | ef | filter | recall@10 | QPS 1T | p50 µs | p99 µs |")
    print("|---|---:|---|---:|---:|---:|---:|")

    def row(engine: str, ef, label: str, result, truth) -> None:
        found, qps, p50, p99 = result
        ef_s = "–" if ef is None else str(ef)
        print(
            f"| {engine} | {ef_s} | {label} | {recall(found, truth):.3f} | {qps:,.0f} | {p50:.0f} | {p99:.0f} |"
        )

    for label, mask in filters(base).items():
        truth = exact_top(base, queries, mask)
        bits = np.packbits(mask.astype(np.uint8), bitorder="little")
        selector = faiss.IDSelectorBitmap(len(mask), faiss.swig_ptr(bits))
        for ef in efs:
            params = faiss.SearchParametersHNSW(sel=selector, efSearch=ef)
            result = timed(
                queries, lambda q: hnsw.search(q[None], K, params=params)[1][0].tolist()
            )
            row("faiss HNSW + IDSelectorBitmap", ef, label, result, truth)
        flat_params = faiss.SearchParameters(sel=selector)
        result = timed(
            queries,
            lambda q: flat.search(q[None], K, params=flat_params)[1][0].tolist(),
        )
        row("faiss flat + IDSelectorBitmap", None, label, result, truth)
        ids = np.flatnonzero(mask)
        gathered = np.ascontiguousarray(base[ids])

        def scan(q: np.ndarray) -> list[int]:
            scores = gathered @ q
            top = np.argpartition(-scores, K)[:K]
            return ids[top[np.argsort(-scores[top])]].tolist()

        row("numpy over gathered rows", None, label, timed(queries, scan), truth)


if __name__ == "__main__":
    main()
