"""What on-disk f32 rows cost an int8 collection that rescores: heap, anonymous and file-backed
resident memory, and search latency with the rows in the page cache.

Usage: python scripts/bench-on-disk.py DATA_DIR [--build]
  DATA_DIR holds base.f32 / queries.f32 (bench/README.md format); --build writes the two
  collection files (int8 rescored, rows in RAM / on disk) there first. (Dropping the page cache
  does not evict pages a process has mapped, so cold reads are not measured here.)
"""

import os
import sys
import time

import numpy as np
import vectorlite

DIM = 384


def rss_kb() -> dict[str, int]:
    with open("/proc/self/status") as f:
        fields = dict(line.split(":", 1) for line in f)
    return {k: int(fields[k].split()[0]) for k in ("VmRSS", "RssAnon", "RssFile")}


def latencies(c, queries, ef: int) -> tuple[float, float]:
    times = []
    for q in queries:
        start = time.perf_counter()
        c.query(q, k=10, ef=ef, include=[])
        times.append(time.perf_counter() - start)
    times.sort()
    return times[len(times) // 2] * 1e6, times[int(len(times) * 0.99)] * 1e6


def main() -> None:
    data = sys.argv[1]
    base = np.fromfile(os.path.join(data, "base.f32"), dtype=np.float32).reshape(
        -1, DIM
    )
    queries = np.fromfile(os.path.join(data, "queries.f32"), dtype=np.float32).reshape(
        -1, DIM
    )[:1000]
    files = {
        on_disk: os.path.join(data, f"int8-{'disk' if on_disk else 'ram'}.vlc")
        for on_disk in (False, True)
    }
    if "--build" in sys.argv:
        client = vectorlite.Client()
        for on_disk, path in files.items():
            c = client.create_collection(
                f"c{int(on_disk)}",
                dimension=DIM,
                vector_storage="int8",
                on_disk=on_disk,
            )
            c.add(vectors=base)
            c.save(path)
        return
    del base
    for on_disk, path in files.items():
        c = vectorlite.Collection.load(path)
        info = c.info()
        before = rss_kb()
        for ef in (32, 64):
            warm = latencies(c, queries, ef)
            print(f"on_disk={on_disk} ef={ef} p50/p99 {warm[0]:.0f}/{warm[1]:.0f} us")
        print(
            f"on_disk={on_disk}: memory_bytes/vec {info['memory_bytes'] / info['count']:.0f}, "
            f"disk_bytes/vec {info['disk_bytes'] / info['count']:.0f}, RSS after load {before}, "
            f"after searches {rss_kb()}"
        )
        del c


if __name__ == "__main__":
    main()
