#!/usr/bin/env python3
"""Builds the tiny random-weight models of tests/fixtures/ and their reference rows, or checks
them.

    python scripts/make-fixtures.py                       # rebuild every fixture
    python scripts/make-fixtures.py rerank tiny-gte-cls   # a family or single fixtures
    python scripts/make-fixtures.py --check [...]         # reload and recompute the rows

Families: st-pipelines, rerank, sparse (scripts/fixtures/{pipelines,rerank,sparse}.py say what
each holds and how it is made). Needs the versions the references are made with, pinned by
benches/baseline-requirements.txt (sentence-transformers 6.3.0, transformers 5.24.0, torch
2.15.0; CPU, float32), e.g. in target/fixture-python:

    python3 -m venv target/fixture-python
    target/fixture-python/bin/pip install -r benches/baseline-requirements.txt

An st-pipelines or rerank fixture is its hand-written files, laid out as the repository it
imitates lays them out (config.json, tokenizer files, sentence-transformers module configs), plus
what this script makes from them: the weights, from a fixed seed, with the imitated checkpoint's
names, dtype and sharding, and NAME.jsonl. Adding one is writing those files and a recipe line.
The weights are the same bytes on every machine (calibrations are rounded first); the rows'
last bits depend on the CPU. --check
recomputes the stored rows' outputs from the files on disk and fails beyond 2e-5.
"""

import argparse
import logging
import sys
import warnings
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
warnings.filterwarnings("ignore")
logging.disable(logging.WARNING)

from fixtures import pipelines, rerank, sparse  # noqa: E402
from fixtures.common import TOLERANCE  # noqa: E402

FAMILIES = {"st-pipelines": pipelines, "rerank": rerank, "sparse": sparse}


def chosen(names):
    picked = []
    for family, module in FAMILIES.items():
        for recipe in module.RECIPES:
            if not names or family in names or recipe.name in names:
                picked.append((module, recipe))
    known = set(FAMILIES) | {r.name for m in FAMILIES.values() for r in m.RECIPES}
    unknown = [n for n in names if n not in known]
    if unknown:
        sys.exit(f"unknown fixtures or families {unknown}; families are {list(FAMILIES)}")
    return picked


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="reload each fixture and recompute its rows")
    parser.add_argument("names", nargs="*", help="families or fixture names (default: all)")
    args = parser.parse_args()
    ok = True
    for module, recipe in chosen(args.names):
        if not args.check:
            module.make(recipe)
            print(f"{recipe.name}: built")
            continue
        largest = module.check(recipe)
        agree = largest is not None and largest <= TOLERANCE
        ok &= agree
        detail = "rows differ" if largest is None else f"largest difference {largest:.2e}"
        print(f"{recipe.name}: {'agree' if agree else 'DIFFER'} ({detail})")
    sys.exit(0 if ok else 1)


if __name__ == "__main__":
    main()
