#!/usr/bin/env python3
"""Extracts operations from a peer's OpenAPI document (JSON), unchanged, with every component
schema they reference, so that tests/specs/ holds the part of a large document this server
speaks (OpenAI's is 3.4 MB).

    python3 scripts/extract-openapi.py openapi.json OUT.json "post /embeddings" "get /models" \
        "schema ErrorResponse"

The output keeps the document's `openapi` and `info`, the chosen paths with only the chosen
methods, and `components` reduced to what those operations (and the schemas named with
`schema NAME`, such as an error object documented once for every operation) reach through
`$ref`.
"""

import json
import sys


def references(value):
    if isinstance(value, dict):
        if isinstance(value.get("$ref"), str):
            yield value["$ref"]
        for item in value.values():
            yield from references(item)
    elif isinstance(value, list):
        for item in value:
            yield from references(item)


def main():
    source, target, *operations = sys.argv[1:]
    document = json.load(open(source))
    paths, named = {}, []
    for operation in operations:
        method, path = operation.split(" ", 1)
        if method == "schema":
            named.append(f"#/components/schemas/{path}")
            continue
        paths.setdefault(path, {})[method] = document["paths"][path][method]
    components = document.get("components", {})
    kept, pending = {}, list(references(paths)) + named
    while pending:
        reference = pending.pop()
        _, _, kind, name = reference.split("/", 3)
        if name in kept.setdefault(kind, {}):
            continue
        kept[kind][name] = components[kind][name]
        pending.extend(references(kept[kind][name]))
    extract = {
        "openapi": document["openapi"],
        "info": document["info"],
        "paths": paths,
        "components": {kind: dict(sorted(found.items())) for kind, found in sorted(kept.items())},
    }
    with open(target, "w") as f:
        json.dump(extract, f, indent=2)
        f.write("\n")
    counts = ", ".join(f"{len(found)} {kind}" for kind, found in sorted(kept.items()))
    print(f"{target}: {sum(len(m) for m in paths.values())} operations, {counts}")


if __name__ == "__main__":
    main()
