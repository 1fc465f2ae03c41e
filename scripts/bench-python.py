#!/usr/bin/env python3
"""Benchmark of the Python package: vectorlite in-process vs chromadb in-process vs vectorlite's
own Rust figure, on the same data in the same run.

One query per call from Python (how an agent queries), recall@10 against exact ground truth,
add throughput (building the HNSW graph while adding), and a batch row. The Rust figure comes
from `vectorlite bench --collection`, run on the very collection the Python package built (saved
to a file), so the difference between the two is the cost of the binding alone.

    maturin develop --release            # in python/, inside the venv that runs this script
    pip install chromadb                  # optional: the peer
    cargo build --release                 # the Rust figure
    python scripts/bench-python.py [--data DIR] [--ef 32,48,64,128] [--skip-chroma]

Data: the shared exchange format (meta.json, base.f32, queries.f32, gt.i32; see
shared/bench/README.md). Without --data the script asks the binary to export the reference
recipe "clustered-384" (100,000 x 384, seed 42) to a temporary directory.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

K = 10
ROOT = Path(__file__).resolve().parent.parent


def load_data(
    args: argparse.Namespace, tmp: Path
) -> tuple[np.ndarray, np.ndarray, np.ndarray, Path]:
    """Base vectors, queries and ground truth (each as numpy arrays), and the directory they came from."""
    data = args.data
    if data is None:
        data = tmp / "data"
        subprocess.run(
            [str(args.bin), "bench", "--export", str(data)],
            check=True,
            stdout=subprocess.DEVNULL,
        )
    meta = json.loads((data / "meta.json").read_text())
    dim = meta["dim"]
    base = np.fromfile(data / "base.f32", dtype="<f4").reshape(-1, dim)
    queries = np.fromfile(data / "queries.f32", dtype="<f4").reshape(-1, dim)
    gt = np.fromfile(data / "gt.i32", dtype="<i4").reshape(len(queries), -1)
    return base, queries, gt, data


def recall_at_10(found: list[list[int]], gt: np.ndarray) -> float:
    """Mean share of each query's exact top 10 among its returned top 10."""
    hits = sum(
        len(set(ids[:K]) & set(gt[i, :K].tolist())) for i, ids in enumerate(found)
    )
    return hits / (K * len(found))


def one_at_a_time(search, queries: np.ndarray) -> tuple[float, float, list[list[int]]]:
    """(queries per second, median latency in µs, ids per query), one call per query."""
    for q in queries[:20]:  # warm-up: the first calls pay page faults
        search(q)
    answers = []
    latencies = []
    start = time.perf_counter()
    for q in queries:
        t = time.perf_counter()
        answers.append(search(q))
        latencies.append(time.perf_counter() - t)
    qps = len(queries) / (time.perf_counter() - start)
    return qps, statistics.median(latencies) * 1e6, answers


def bench_vectorlite(
    args, base, queries, gt, tmp: Path
) -> tuple[dict, list[dict], Path]:
    """Build through the Python package, measure each ef, and save the collection for the Rust run."""
    import vectorlite

    client = vectorlite.Client()
    col = client.create_collection(
        "bench", dimension=base.shape[1], metric="cosine", m=16, ef_construction=200
    )
    metadatas = [{"bucket": i % 100} for i in range(len(base))]
    start = time.perf_counter()
    for lo in range(0, len(base), args.add_batch):
        hi = min(lo + args.add_batch, len(base))
        col.add(
            vectors=base[lo:hi], metadatas=metadatas[lo:hi], ids=list(range(lo, hi))
        )
    build_s = time.perf_counter() - start
    add = {
        "engine": "vectorlite (Python)",
        "seconds": build_s,
        "vectors_per_s": len(base) / build_s,
    }

    rows = []
    for ef in args.ef:
        best = None
        for _ in range(args.rounds):
            qps, p50, answers = one_at_a_time(
                lambda q, ef=ef: col.query(vector=q, k=K, ef=ef), queries
            )
            if best is None or qps > best[0]:
                best = (qps, p50, answers)
        qps, p50, answers = best
        found = [[r.id for r in hits] for hits in answers]
        start = time.perf_counter()
        col.query(vectors=queries, k=K, ef=ef)
        batch_qps = len(queries) / (time.perf_counter() - start)
        rows.append(
            {
                "engine": "vectorlite (Python)",
                "ef": ef,
                "recall10": recall_at_10(found, gt),
                "qps_1t": qps,
                "p50_us": p50,
                "qps_batch": batch_qps,
            }
        )
    saved = tmp / "bench.vlc"
    col.save(saved)
    client.close()
    return add, rows, saved


def bench_rust(args, data: Path, saved: Path, dim: int) -> list[dict]:
    """`vectorlite bench` on the collection the Python package built: the same graph, no binding."""
    command = [
        str(args.bin),
        "bench",
        "--collection",
        str(saved),
        "--base",
        str(data / "base.f32"),
        "--queries",
        str(data / "queries.f32"),
        "--gt",
        str(data / "gt.i32"),
        "--dim",
        str(dim),
        "--ef",
        ",".join(map(str, args.ef)),
        "--skip-flat",
        "--skip-filtered",
        "--skip-persist",
        "--skip-records",
        "--json",
    ]
    env = dict(os.environ, VL_REPEAT=str(args.rounds))
    out = subprocess.run(
        command, check=True, capture_output=True, text=True, env=env
    ).stdout
    best: dict[int, dict] = {}
    for line in out.splitlines():
        row = json.loads(line)
        if row.get("engine") != "hnsw":
            continue
        ef = row["ef"]
        if ef not in best or row["qps_1t"] > best[ef]["qps_1t"]:
            best[ef] = row
    return [
        {
            "engine": "vectorlite (Rust)",
            "ef": ef,
            "recall10": row["recall10"],
            "qps_1t": row["qps_1t"],
            "p50_us": row["p50_us"],
            "qps_batch": row["qps_2t"],
        }
        for ef, row in sorted(best.items())
    ]


def bench_chroma(args, base, queries, gt) -> tuple[dict, list[dict]]:
    """chromadb in process (its own hnswlib inside), same graph parameters, ids as strings."""
    import chromadb

    client = chromadb.EphemeralClient()
    hnsw = {
        "space": "cosine",
        "ef_construction": 200,
        "max_neighbors": 16,
        "ef_search": args.chroma_ef[0],
    }
    col = client.create_collection("bench", configuration={"hnsw": hnsw})
    batch = min(args.add_batch, client.get_max_batch_size())
    start = time.perf_counter()
    for lo in range(0, len(base), batch):
        hi = min(lo + batch, len(base))
        col.add(
            ids=[str(i) for i in range(lo, hi)],
            embeddings=base[lo:hi],
            metadatas=[{"bucket": i % 100} for i in range(lo, hi)],
        )
    build_s = time.perf_counter() - start
    add = {
        "engine": "chromadb",
        "seconds": build_s,
        "vectors_per_s": len(base) / build_s,
    }

    rows = []
    for ef in args.chroma_ef:
        col.modify(configuration={"hnsw": {"ef_search": ef}})

        def search(q):
            return col.query(query_embeddings=[q], n_results=K, include=["distances"])

        qps, p50, answers = one_at_a_time(search, queries)
        found = [[int(i) for i in a["ids"][0]] for a in answers]
        start = time.perf_counter()
        col.query(query_embeddings=queries, n_results=K, include=["distances"])
        batch_qps = len(queries) / (time.perf_counter() - start)
        rows.append(
            {
                "engine": "chromadb",
                "ef": ef,
                "recall10": recall_at_10(found, gt),
                "qps_1t": qps,
                "p50_us": p50,
                "qps_batch": batch_qps,
            }
        )
    return add, rows


def print_tables(adds: list[dict], rows: list[dict]) -> None:
    rust = {r["ef"]: r for r in rows if r["engine"] == "vectorlite (Rust)"}
    chroma = [r for r in rows if r["engine"] == "chromadb"]
    print(
        "| engine | ef | recall@10 | QPS 1T one-at-a-time | p50 µs | QPS batch | vs Rust | vs chromadb |"
    )
    print("|---|---:|---:|---:|---:|---:|---:|---:|")
    for r in rows:
        vs_rust = ""
        vs_chroma = ""
        if r["engine"] == "vectorlite (Python)":
            if r["ef"] in rust:
                vs_rust = (
                    f"{(rust[r['ef']]['qps_1t'] / r['qps_1t'] - 1) * 100:+.1f}% time"
                )
            peer = next((c for c in chroma if c["ef"] == r["ef"]), None)
            if peer is not None:
                vs_chroma = f"{r['qps_1t'] / peer['qps_1t']:.1f}x"
        print(
            f"| {r['engine']} | {r['ef']} | {r['recall10']:.3f} | {r['qps_1t']:,.0f} | {r['p50_us']:.0f} "
            f"| {r['qps_batch']:,.0f} | {vs_rust} | {vs_chroma} |"
        )
    print()
    print("| engine | add 100k with HNSW, s | vectors/s |")
    print("|---|---:|---:|")
    for a in adds:
        print(f"| {a['engine']} | {a['seconds']:.1f} | {a['vectors_per_s']:,.0f} |")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--data", type=Path, help="a directory in the shared exchange format"
    )
    parser.add_argument(
        "--bin", type=Path, default=ROOT / "target" / "release" / "vectorlite"
    )
    parser.add_argument(
        "--ef", type=lambda s: [int(x) for x in s.split(",")], default=[32, 48, 64, 128]
    )
    parser.add_argument(
        "--chroma-ef", type=lambda s: [int(x) for x in s.split(",")], default=[64, 128]
    )
    parser.add_argument(
        "--add-batch", type=int, default=5000, help="vectors per add call"
    )
    parser.add_argument(
        "--rounds", type=int, default=2, help="query rounds per ef (the best is kept)"
    )
    parser.add_argument("--skip-chroma", action="store_true")
    parser.add_argument(
        "--json", action="store_true", help="print the rows as JSON lines too"
    )
    args = parser.parse_args()
    if not args.bin.exists():
        parser.error(f"{args.bin} not found: run `cargo build --release` or pass --bin")

    with tempfile.TemporaryDirectory(prefix="vectorlite-pybench-") as tmp_name:
        tmp = Path(tmp_name)
        base, queries, gt, data = load_data(args, tmp)
        print(
            f"data: {base.shape[0]} x {base.shape[1]}, {len(queries)} queries",
            file=sys.stderr,
        )
        add, py_rows, saved = bench_vectorlite(args, base, queries, gt, tmp)
        adds = [add]
        rows = py_rows + bench_rust(args, data, saved, base.shape[1])
        if not args.skip_chroma:
            chroma_add, chroma_rows = bench_chroma(args, base, queries, gt)
            adds.append(chroma_add)
            rows += chroma_rows
    if args.json:
        for r in rows + adds:
            print(json.dumps(r))
    print_tables(adds, rows)
    return 0


if __name__ == "__main__":
    sys.exit(main())
