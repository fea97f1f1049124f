#!/usr/bin/env python3
"""How varied the answers of each run of an `msmu ablate` study are: answers, distinct answers,
the share with a number, and the most common answer. A model that has not learned to read the
question gives a handful of canned answers; success rates of such runs measure which canned
answer happens to parse, not spatial reasoning. Usage: scripts/ablation_answers.py STUDY_DIR"""

import collections
import json
import sys
from pathlib import Path


def main(root: Path) -> None:
    print("| run | answers | distinct | with a number | most common answer (share) |")
    print("|---|---:|---:|---:|---|")
    for run in sorted((root / "runs").glob("*/seed-*")):
        path = run / "pred.jsonl"
        if not path.exists():
            continue
        preds = [json.loads(line)["pred"] for line in path.read_text().splitlines()[1:]]
        if not preds:
            continue
        counts = collections.Counter(preds)
        numeric = sum(any(ch.isdigit() for ch in p) for p in preds)
        top, n = counts.most_common(1)[0]
        name = f"{run.parent.name}/{run.name}"
        print(f"| {name} | {len(preds)} | {len(counts)} | {100 * numeric / len(preds):.0f} % | "
              f"`{top[:50]}` ({100 * n / len(preds):.0f} %) |")


if __name__ == "__main__":
    main(Path(sys.argv[1]))
