"""Turn a CustomResourceDefinition into the strict JSON schemas ``tests/deploy`` validates
custom resources against (one file per served version, ``<kind>-<group>-<version>.json``).

Strict like ``kubernetes-validate --strict``: an object that lists its properties rejects
any other (unless the CRD says ``x-kubernetes-preserve-unknown-fields``), so a misspelt
field fails the check instead of being dropped by the API server.

    python deploy/schemas/from_crd.py path/to/crd.yaml [...]

The vendored files and the upstream CRDs they came from are listed in README.md here.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import yaml

HERE = Path(__file__).resolve().parent


def strict(node: Any) -> Any:
    """The OpenAPI v3 schema ``node`` as JSON schema, closed wherever it lists properties."""
    if isinstance(node, list):
        return [strict(item) for item in node]
    if not isinstance(node, dict):
        return node
    out = {k: strict(v) for k, v in node.items() if not k.startswith("x-kubernetes-")}
    if node.get("x-kubernetes-int-or-string"):
        out.pop("type", None)
        out["anyOf"] = [{"type": "integer"}, {"type": "string"}]
    if node.get("nullable"):
        out.pop("nullable")
        if isinstance(out.get("type"), str):
            out["type"] = [out["type"], "null"]
    preserve = node.get("x-kubernetes-preserve-unknown-fields")
    if "properties" in node and "additionalProperties" not in node and not preserve:
        out["additionalProperties"] = False
    return out


def schemas(crd: dict[str, Any]) -> dict[str, dict[str, Any]]:
    group = crd["spec"]["group"]
    kind = crd["spec"]["names"]["kind"]
    found = {}
    for version in crd["spec"]["versions"]:
        if not version.get("served", True):
            continue
        schema = strict(version["schema"]["openAPIV3Schema"])
        props = schema.setdefault("properties", {})
        # apiVersion and kind are fixed for a file; metadata is checked by the API server.
        props["apiVersion"] = {"enum": [f"{group}/{version['name']}"]}
        props["kind"] = {"enum": [kind]}
        props["metadata"] = {"type": "object"}
        schema["required"] = sorted({*schema.get("required", []), "apiVersion", "kind"})
        schema["$schema"] = "https://json-schema.org/draft/2020-12/schema"
        found[f"{kind.lower()}-{group}-{version['name']}.json"] = schema
    return found


def main(paths: list[str]) -> None:
    for path in paths:
        crd = yaml.safe_load(Path(path).read_text(encoding="utf-8"))
        for name, schema in schemas(crd).items():
            (HERE / name).write_text(json.dumps(schema, indent=1, sort_keys=True) + "\n")
            print(name)


if __name__ == "__main__":
    main(sys.argv[1:])
