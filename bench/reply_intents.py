"""How well replies are read: precision and recall per intent over the labelled corpus, and speed.

Run from anywhere: ``.venv/bin/python bench/reply_intents.py [corpus.tsv]``. Classifies every reply
of tests/data/reply_corpus.tsv (columns ``text``, ``intent``) with the default keywords, prints
precision and recall per intent, each confusion (labelled → read as) with its replies, and replies
per CPU second for a batch of 500 with the word cache cold and warm. A report: it always exits 0 — the
floors that fail a regression are in tests/test_refusals.py.
"""

from __future__ import annotations

import csv
import sys
import time
from collections import Counter
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from compliance import lemmas
from compliance.keywords import Intent, classify_reply

CORPUS = Path(__file__).resolve().parent.parent / "tests" / "data" / "reply_corpus.tsv"
BATCH = 500


def load(path: Path = CORPUS) -> list[tuple[str, Intent]]:
    with path.open(encoding="utf-8", newline="") as source:
        return [(row["text"], Intent(row["intent"])) for row in csv.DictReader(source, delimiter="\t")]


def scores(pairs: list[tuple[Intent, Intent]]) -> dict[Intent, tuple[float, float, int]]:
    """Per intent: precision, recall and how many replies carry that label."""
    result = {}
    for intent in Intent:
        labelled = sum(1 for label, _read in pairs if label is intent)
        read = sum(1 for _label, got in pairs if got is intent)
        right = sum(1 for label, got in pairs if label is intent and got is intent)
        result[intent] = (right / read if read else 1.0, right / labelled if labelled else 1.0, labelled)
    return result


def per_second(texts: list[str]) -> float:
    """Replies classified per second of this process's CPU time (the machine may be shared; wall time lies)."""
    started = time.process_time()
    for text in texts:
        classify_reply(text)
    return len(texts) / (time.process_time() - started)


def main() -> int:
    corpus = load(Path(sys.argv[1]) if len(sys.argv) > 1 else CORPUS)
    started = time.perf_counter()
    lemmas.analyser()
    loaded = time.perf_counter() - started
    pairs = [(label, classify_reply(text)) for text, label in corpus]
    print(f"{len(corpus)} replies; {sum(label is got for label, got in pairs)} read as labelled")
    print(f"{'intent':8} {'precision':>9} {'recall':>7} {'replies':>7}")
    for intent, (precision, recall, count) in scores(pairs).items():
        print(f"{intent.value:8} {precision:9.3f} {recall:7.3f} {count:7d}")
    confusions = Counter((label, got) for label, got in pairs if label is not got)
    if confusions:
        print("confusions (labelled → read as):")
    for (label, got), count in confusions.most_common():
        texts = [text for (text, lab), (_l, g) in zip(corpus, pairs, strict=True) if lab is label and g is got]
        print(f"  {label.value} → {got.value}: {count}")
        for text in texts:
            print(f"      {text}")
    batch = [text for _ in range(BATCH // len(corpus) + 1) for text, _label in corpus][:BATCH]
    lemmas.analyse.cache_clear()
    cold = per_second(batch)
    warm = max(per_second(batch) for _ in range(3))
    print(f"morphology analyser built in {loaded * 1000:.0f} ms (once per process)")
    print(f"batch of {BATCH}: {cold:,.0f} replies per CPU second with the word cache cold, {warm:,.0f} warm "
          f"({BATCH / cold * 1000:.1f} ms / {BATCH / warm * 1000:.1f} ms of CPU per batch)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
