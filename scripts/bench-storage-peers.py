#!/usr/bin/env python3
"""Compressed vectors in the peers, on the data of `vectorlite bench`, for the side-by-side
rows of BENCHMARKS.md (compare with `vectorlite bench --storage f16|int8`).

Peers, unfiltered, one query per call on one thread (as an agent queries), recall@10 against
the exact f32 ground truth (gt.i32):

- faiss `IndexHNSWFlat` (f32), `IndexHNSWSQ` with `QT_fp16` and `QT_8bit` (per-dimension
  ranges, trained on the base), M 16, ef_construction 200, inner product;
- faiss flat scans: `IndexFlatIP` and `IndexScalarQuantizer` (`QT_fp16`, `QT_8bit`);
- usearch `Index` with `dtype` f32, f16 and i8 (connectivity 16, expansion_add 200, cosine).

Bytes per vector are each index's serialized size over the number of vectors.

    pip install faiss-cpu usearch numpy
    python scripts/bench-storage-peers.py --data DIR [--ef 16,32,64,128]

Data: the shared exchange format (meta.json, base.f32, queries.f32, gt.i32), e.g. from
`vectorlite bench --export DIR`.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np
from peers_common import read_data, timed

K = 10


def recall(found: list[list[int]], truth: np.ndarray) -> float:
    hits = sum(len(set(f[:K]) & set(t[:K].tolist())) for f, t in zip(found, truth))
    return hits / (K * len(truth))


def main() -> None:
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("--data", type=Path, required=True)
    ap.add_argument("--ef", default="16,32,64,128")
    ap.add_argument("--build-threads", type=int, default=2)
    args = ap.parse_args()
    import faiss
    import usearch
    from usearch.index import Index

    dim, base, queries = read_data(args.data)
    truth = np.fromfile(args.data / "gt.i32", dtype="<i4").reshape(len(queries), -1)
    efs = [int(e) for e in args.ef.split(",")]
    n = len(base)
    print(f"faiss {faiss.__version__}, usearch {usearch.__version__}; {n} x {dim}")
    print(
        "| engine | ef | recall@10 | QPS 1T | p50 µs | p99 µs | build s | bytes/vec |"
    )
    print("|---|---:|---:|---:|---:|---:|---:|---:|")

    def row(engine: str, ef, result, build_s: float, nbytes: float) -> None:
        found, qps, p50, p99 = result
        ef_s = "–" if ef is None else str(ef)
        print(
            f"| {engine} | {ef_s} | {recall(found, truth):.3f} | {qps:,.0f} | {p50:.0f} | {p99:.0f} "
            f"| {build_s:.1f} | {nbytes:,.0f} |",
            flush=True,
        )

    def faiss_bytes(index) -> float:
        return faiss.serialize_index(index).nbytes / n

    sq = faiss.ScalarQuantizer
    faiss_kinds = [("f32", None), ("fp16", sq.QT_fp16), ("8bit", sq.QT_8bit)]
    for name, qtype in faiss_kinds:
        faiss.omp_set_num_threads(args.build_threads)
        if qtype is None:
            hnsw = faiss.IndexHNSWFlat(dim, 16, faiss.METRIC_INNER_PRODUCT)
        else:
            hnsw = faiss.IndexHNSWSQ(dim, qtype, 16, faiss.METRIC_INNER_PRODUCT)
        hnsw.hnsw.efConstruction = 200
        start = time.perf_counter()
        hnsw.train(base)
        hnsw.add(base)
        build_s = time.perf_counter() - start
        faiss.omp_set_num_threads(1)
        nbytes = faiss_bytes(hnsw)
        for ef in efs:
            params = faiss.SearchParametersHNSW(efSearch=ef)
            result = timed(
                queries,
                lambda q, h=hnsw, p=params: h.search(q[None], K, params=p)[1][
                    0
                ].tolist(),
            )
            row(f"faiss HNSW {name}", ef, result, build_s, nbytes)
        flat = (
            faiss.IndexFlatIP(dim)
            if qtype is None
            else faiss.IndexScalarQuantizer(dim, qtype, faiss.METRIC_INNER_PRODUCT)
        )
        flat.train(base)
        flat.add(base)
        result = timed(queries, lambda q, f=flat: f.search(q[None], K)[1][0].tolist())
        row(f"faiss flat {name}", None, result, 0.0, faiss_bytes(flat))

    keys = np.arange(n, dtype=np.uint64)
    for dtype in ["f32", "f16", "i8"]:
        index = Index(
            ndim=dim, metric="cos", dtype=dtype, connectivity=16, expansion_add=200
        )
        start = time.perf_counter()
        index.add(keys, base, threads=args.build_threads)
        build_s = time.perf_counter() - start
        nbytes = index.serialized_length / n
        for ef in efs:
            index.expansion_search = ef
            result = timed(
                queries, lambda q, i=index: i.search(q, K, threads=1).keys.tolist()
            )
            row(f"usearch HNSW {dtype}", ef, result, build_s, nbytes)


if __name__ == "__main__":
    main()
