#!/usr/bin/env python3
"""Writes tests/fixtures/minilm_reference.json: all-MiniLM-L6-v2 vectors from the reference
implementation (Python sentence-transformers on CPU) for fixed sentences, which the Rust
embedder must match with cosine >= 0.999.

Produced with:
    pip install sentence-transformers          # PyTorch CPU
    bash scripts/fetch-model.sh
    python3 scripts/reference-embeddings.py    # from the repository root
"""
import json
import sys

import sentence_transformers
from sentence_transformers import SentenceTransformer

LONG_150 = " ".join(["vector databases keep agent memories close at hand"] * 17)   # ~150 tokens
LONG_300 = " ".join(["an embedding maps text to a point in space"] * 34)             # > 256 tokens

SENTENCES = [
    "The cat sits on the mat.",
    "A feline is resting on a rug.",
    "Stock markets fell sharply on Monday.",
    "How do I reset my password?",
    "Rust guarantees memory safety without a garbage collector.",
    "I like tea.",
    "Paris is the capital of France.",
    "Ünïcödé, emoji 🚀 and punctuation?!",
    "",
    LONG_150,
    LONG_300,
]

def main() -> None:
    model = SentenceTransformer(sys.argv[1] if len(sys.argv) > 1 else "models/all-MiniLM-L6-v2", device="cpu")
    vectors = model.encode(SENTENCES, normalize_embeddings=True, convert_to_numpy=True)
    out = {
        "model": "sentence-transformers/all-MiniLM-L6-v2",
        "produced_by": f"sentence-transformers {sentence_transformers.__version__}, "
        f"max_seq_length {model.max_seq_length}, scripts/reference-embeddings.py",
        "cases": [
            {"text": s, "tokens": len(model.tokenizer(s)["input_ids"]), "vector": [round(float(x), 7) for x in v]}
            for s, v in zip(SENTENCES, vectors)
        ],
    }
    with open("tests/fixtures/minilm_reference.json", "w", encoding="utf-8") as f:
        json.dump(out, f, ensure_ascii=False)
        f.write("\n")

if __name__ == "__main__":
    main()
