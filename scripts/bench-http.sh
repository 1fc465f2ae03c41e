#!/usr/bin/env bash
# HTTP search throughput and latency of `vectorlite serve` over loopback, measured with wrk
# (Debian's package) at 1, 8 and 32 concurrent connections, for vector queries (HNSW, 384
# dimensions) and text queries (embedded by the server's all-MiniLM-L6-v2). Prints a markdown
# table for BENCHMARKS.md.
#
#   bash scripts/bench-http.sh            # N=20000 records, 10 s per row
#   N=50000 SECONDS_PER_ROW=20 bash scripts/bench-http.sh
set -euo pipefail
cd "$(dirname "$0")/.."

N=${N:-20000}
SECONDS_PER_ROW=${SECONDS_PER_ROW:-10}
command -v wrk >/dev/null || { apt-get install -y wrk >/dev/null || { apt-get update >/dev/null && apt-get install -y wrk >/dev/null; }; }
bash scripts/fetch-model.sh >/dev/null
cargo build --release --quiet
bin=target/release/vectorlite

work=$(mktemp -d)
server_pid=
cleanup() { [ -n "$server_pid" ] && kill "$server_pid" 2>/dev/null; rm -rf "$work"; }
trap cleanup EXIT

# Seeded data: N vectors around 200 centres, 100 query bodies, and texts for the text rows.
python3 - "$work" "$N" <<'PY'
import json, random, sys
work, n = sys.argv[1], int(sys.argv[2])
rng = random.Random(42)
dim = 384
centres = [[rng.gauss(0, 1) for _ in range(dim)] for _ in range(200)]
def point():
    c = rng.choice(centres)
    return [round(x + rng.gauss(0, 0.3), 4) for x in c]
with open(f"{work}/vectors.jsonl", "w") as f:
    for i in range(n):
        f.write(json.dumps({"vector": point(), "metadata": {"bucket": i % 100}}) + "\n")
subjects = ["the user", "my manager", "the team", "our customer", "the agent", "a friend"]
verbs = ["prefers", "asked about", "complained about", "scheduled", "forgot", "recommended"]
objects = ["green tea", "the quarterly report", "a trip to Oslo", "the database migration",
           "a birthday party", "the new pricing", "a flight to Tokyo", "the security review"]
when = ["on Monday", "last week", "in the morning", "after lunch", "next month", "yesterday"]
with open(f"{work}/texts.jsonl", "w") as f:
    for i in range(2000):
        s = f"{rng.choice(subjects)} {rng.choice(verbs)} {rng.choice(objects)} {rng.choice(when)}"
        f.write(json.dumps({"text": s, "metadata": {"i": i}}) + "\n")
def lua(name, bodies):
    with open(f"{work}/{name}.lua", "w") as f:
        f.write('wrk.method = "POST"\nwrk.headers["Content-Type"] = "application/json"\nbodies = {\n')
        for b in bodies:
            f.write("  " + json.dumps(json.dumps(b)) + ",\n")
        f.write("}\ni = 0\nrequest = function()\n  i = i % #bodies + 1\n"
                "  return wrk.format(nil, nil, nil, bodies[i])\nend\n")
lua("vector", [{"vector": point(), "k": 10} for _ in range(100)])
questions = ["what does the user like to drink?", "when is the trip?", "who asked about pricing?",
             "what was scheduled for Monday?", "any security concerns?", "what did the team forget?"]
lua("text", [{"text": q, "k": 10} for q in questions])
PY

"$bin" import "$work/vectors.jsonl" --collection vectors --data-dir "$work/data" >/dev/null
"$bin" import "$work/texts.jsonl" --collection texts --data-dir "$work/data" >/dev/null

"$bin" serve --port 0 --data-dir "$work/data" >"$work/server.out" 2>"$work/server.log" &
server_pid=$!
for _ in $(seq 100); do grep -q listening "$work/server.out" 2>/dev/null && break; sleep 0.1; done
url=$(sed -n 's/^listening on //p' "$work/server.out")

echo "N=$N vectors (384-d, HNSW M=16, ef_search 48), 2,000 texts; wrk ${SECONDS_PER_ROW}s per row on $(nproc) cores"
echo
echo "| query | connections | requests/s | p50 ms | p99 ms |"
echo "|---|---:|---:|---:|---:|"
to_ms() { awk '{v=$1; if (v ~ /us$/) {sub(/us/,"",v); v/=1000} else if (v ~ /ms$/) {sub(/ms/,"",v)} else if (v ~ /s$/) {sub(/s/,"",v); v*=1000}; printf "%.2f", v}'; }
for kind in vector text; do
  collection=$([ "$kind" = vector ] && echo vectors || echo texts)
  for c in 1 8 32; do
    threads=$(( c < 2 ? 1 : 2 ))
    out=$(wrk -t"$threads" -c"$c" -d"${SECONDS_PER_ROW}s" --latency -s "$work/$kind.lua" "$url/collections/$collection/search")
    rps=$(awk '/^Requests\/sec/ {printf "%.0f", $2}' <<<"$out")
    p50=$(awk '$1 == "50%" {print $2}' <<<"$out" | to_ms)
    p99=$(awk '$1 == "99%" {print $2}' <<<"$out" | to_ms)
    errors=$(grep -E "Non-2xx|Socket errors" <<<"$out" || true)
    echo "| $kind | $c | $rps | $p50 | $p99 |${errors:+ $errors}"
  done
done
