#!/usr/bin/env python3
"""Generate kubeconform JSON schemas from a Kubernetes OpenAPI v2 document.

kubeconform normally downloads its schemas from the internet. This script
builds the same layout offline from the `swagger.json` that ships inside the
`k8s.io/kubernetes` Go module (or from `kubectl get --raw /openapi/v2` of a
live API server, with --openapi), so chart validation needs no network beyond
the Go module proxy.

Layout written under OUT (one file per group/version/kind, fully
self-contained, refs rewritten to a local "definitions" section):

    OUT/standalone/<kind>-<group-prefix>-<version>.json
    OUT/standalone-strict/<kind>-<group-prefix>-<version>.json

where <group-prefix> is the part of the API group before the first dot and is
left out for the core group ("deployment-apps-v1", "service-v1",
"role-rbac-v1"), matching what kubeconform's {{ .KindSuffix }} expands to.
The strict variant adds "additionalProperties": false to every object that
lists its properties, so unknown or misspelt fields fail validation.

Use it with:

    kubeconform -strict -kubernetes-version 1.36.3 \\
      -schema-location 'OUT/standalone{{ .StrictSuffix }}/{{ .ResourceKind }}{{ .KindSuffix }}.json'

Small hand-written schemas for the two Prometheus Operator kinds the chart can
render (ServiceMonitor, PrometheusRule; monitoring.coreos.com/v1) are added
too. They cover the fields the chart uses, not the full CRDs.
"""

from __future__ import annotations

import argparse
import copy
import json
import os
import shutil
import sys
import tempfile
from pathlib import Path

REF_PREFIX = "#/definitions/"
INT_OR_STRING = "io.k8s.apimachinery.pkg.util.intstr.IntOrString"
QUANTITY = "io.k8s.apimachinery.pkg.api.resource.Quantity"


def fix_types(definitions: dict) -> dict:
    """Replace the two string-typed definitions that YAML writes as numbers."""
    defs = copy.deepcopy(definitions)
    if INT_OR_STRING in defs:
        defs[INT_OR_STRING] = {
            "description": defs[INT_OR_STRING].get("description", ""),
            "oneOf": [{"type": "string"}, {"type": "integer"}],
        }
    if QUANTITY in defs:
        defs[QUANTITY] = {
            "description": "A Kubernetes resource quantity: a number or a string like 50m or 64Mi.",
            "oneOf": [{"type": "string"}, {"type": "number"}],
        }
    return defs


def walk(node, fn):
    """Apply fn to every schema object in node, depth first, in place."""
    if isinstance(node, dict):
        for value in node.values():
            walk(value, fn)
        fn(node)
    elif isinstance(node, list):
        for value in node:
            walk(value, fn)


def make_strict(node: dict) -> None:
    if not isinstance(node.get("properties"), dict):
        return
    if "additionalProperties" in node or node.get("x-kubernetes-preserve-unknown-fields"):
        return
    node["additionalProperties"] = False


def int_or_string_ext(node: dict) -> None:
    # CRD-style marker (not used by the core API today, but cheap to honour).
    # Only the marker itself (true): walk also visits `properties` maps, and
    # JSONSchemaProps (the CRD's schema) has a property of that name.
    if node.get("x-kubernetes-int-or-string") is True:
        node.pop("type", None)
        node["oneOf"] = [{"type": "string"}, {"type": "integer"}]


def refs_in(node, found: set) -> None:
    if isinstance(node, dict):
        ref = node.get("$ref")
        if isinstance(ref, str) and ref.startswith(REF_PREFIX):
            found.add(ref[len(REF_PREFIX):])
        for value in node.values():
            refs_in(value, found)
    elif isinstance(node, list):
        for value in node:
            refs_in(value, found)


def reachable(name: str, defs: dict) -> list[str]:
    seen, todo = set(), [name]
    while todo:
        cur = todo.pop()
        if cur in seen:
            continue
        seen.add(cur)
        if cur not in defs:
            raise SystemExit(f"dangling $ref to {cur}")
        found: set = set()
        refs_in(defs[cur], found)
        todo.extend(found - seen)
    return sorted(seen)


def kind_suffix(group: str, version: str) -> str:
    # Mirrors kubeconform's KindSuffix: "-" + first label of the group (the
    # whole apiVersion for the core group), then "-" + version.
    if not group:
        return f"-{version.lower()}"
    return f"-{group.split('.')[0].lower()}-{version.lower()}"


def standalone(name: str, gvk: dict, defs: dict, strict: bool) -> dict:
    group, version, kind = gvk.get("group", ""), gvk["version"], gvk["kind"]
    api_version = f"{group}/{version}" if group else version
    local = {n: copy.deepcopy(defs[n]) for n in reachable(name, defs)}
    root = copy.deepcopy(defs[name])
    props = root.setdefault("properties", {})
    props["apiVersion"] = {"type": "string", "enum": [api_version]}
    props["kind"] = {"type": "string", "enum": [kind]}
    root["required"] = sorted(set(root.get("required", [])) | {"apiVersion", "kind"})
    schema = {"$schema": "http://json-schema.org/draft-04/schema#", **root}
    schema["definitions"] = local
    walk(schema, int_or_string_ext)
    if strict:
        walk(schema, make_strict)
    return schema


# ---------------------------------------------------------------------------
# Minimal Prometheus Operator schemas (monitoring.coreos.com/v1), written for
# this project from the operator's API documentation; only what the chart
# renders is described, and the strict variant rejects anything else.

def _obj(props: dict, required: list[str] | None = None) -> dict:
    d = {"type": "object", "properties": props}
    if required:
        d["required"] = required
    return d


_STR = {"type": "string"}
_STRMAP = {"type": "object", "additionalProperties": {"type": "string"}}
_META = {"$ref": "#/definitions/io.k8s.apimachinery.pkg.apis.meta.v1.ObjectMeta"}
_RELABEL = _obj({
    "action": _STR, "modulus": {"type": "integer"}, "regex": _STR,
    "replacement": _STR, "separator": _STR,
    "sourceLabels": {"type": "array", "items": _STR}, "targetLabel": _STR,
})


def monitoring_schemas(defs: dict) -> dict[str, tuple[dict, str, str, list[str]]]:
    endpoint = _obj({
        "port": _STR, "targetPort": {"oneOf": [_STR, {"type": "integer"}]},
        "path": _STR, "scheme": {"enum": ["http", "https", "HTTP", "HTTPS"]},
        "interval": _STR, "scrapeTimeout": _STR,
        "honorLabels": {"type": "boolean"}, "honorTimestamps": {"type": "boolean"},
        "params": {"type": "object", "additionalProperties": {"type": "array", "items": _STR}},
        "relabelings": {"type": "array", "items": _RELABEL},
        "metricRelabelings": {"type": "array", "items": _RELABEL},
    })
    service_monitor = _obj({
        "apiVersion": _STR, "kind": _STR, "metadata": _META,
        "spec": _obj({
            "jobLabel": _STR,
            "targetLabels": {"type": "array", "items": _STR},
            "podTargetLabels": {"type": "array", "items": _STR},
            "selector": {"$ref": "#/definitions/io.k8s.apimachinery.pkg.apis.meta.v1.LabelSelector"},
            "namespaceSelector": _obj({"any": {"type": "boolean"},
                                       "matchNames": {"type": "array", "items": _STR}}),
            "endpoints": {"type": "array", "items": endpoint},
            "sampleLimit": {"type": "integer"},
        }, ["selector"]),
    }, ["spec"])
    rule = _obj({
        "record": _STR, "alert": _STR,
        "expr": {"oneOf": [_STR, {"type": "integer"}]},
        "for": _STR, "keep_firing_for": _STR,
        "labels": _STRMAP, "annotations": _STRMAP,
    }, ["expr"])
    prometheus_rule = _obj({
        "apiVersion": _STR, "kind": _STR, "metadata": _META,
        "spec": _obj({
            "groups": {"type": "array", "items": _obj({
                "name": {"type": "string", "minLength": 1},
                "interval": _STR, "query_offset": _STR, "limit": {"type": "integer"},
                "labels": _STRMAP,
                "rules": {"type": "array", "items": rule},
            }, ["name"])},
        }),
    }, ["spec"])
    return {
        "ServiceMonitor": (service_monitor, "monitoring.coreos.com", "v1",
                           ["io.k8s.apimachinery.pkg.apis.meta.v1.ObjectMeta",
                            "io.k8s.apimachinery.pkg.apis.meta.v1.LabelSelector"]),
        "PrometheusRule": (prometheus_rule, "monitoring.coreos.com", "v1",
                           ["io.k8s.apimachinery.pkg.apis.meta.v1.ObjectMeta"]),
    }


def custom_standalone(kind: str, root: dict, group: str, version: str,
                      deps: list[str], defs: dict, strict: bool) -> dict:
    local: dict = {}
    for dep in deps:
        for n in reachable(dep, defs):
            local[n] = copy.deepcopy(defs[n])
    schema = {"$schema": "http://json-schema.org/draft-04/schema#", **copy.deepcopy(root)}
    schema["properties"]["apiVersion"] = {"type": "string", "enum": [f"{group}/{version}"]}
    schema["properties"]["kind"] = {"type": "string", "enum": [kind]}
    schema["required"] = sorted(set(schema.get("required", [])) | {"apiVersion", "kind"})
    schema["definitions"] = local
    if strict:
        walk(schema, make_strict)
    return schema


def write_json(path: Path, data: dict) -> None:
    tmp = path.with_suffix(".json.tmp")
    tmp.write_text(json.dumps(data, separators=(",", ":"), sort_keys=True))
    tmp.replace(path)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--openapi", required=True, type=Path,
                    help="OpenAPI v2 document (swagger.json or /openapi/v2 output)")
    ap.add_argument("--out", required=True, type=Path, help="output directory")
    args = ap.parse_args()

    doc = json.loads(args.openapi.read_text())
    if doc.get("swagger") != "2.0" or "definitions" not in doc:
        print(f"{args.openapi}: not an OpenAPI v2 document", file=sys.stderr)
        return 1
    defs = fix_types(doc["definitions"])

    # Build into a temporary directory and rename, so an interrupted run never
    # leaves a half-written schema set that a later run would take as done.
    args.out.parent.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix=f".{args.out.name}.", dir=args.out.parent))
    count, seen = 0, {}
    for strict, sub in ((False, "standalone"), (True, "standalone-strict")):
        (work / sub).mkdir()
        for name in sorted(defs):
            for gvk in defs[name].get("x-kubernetes-group-version-kind", []):
                fname = f"{gvk['kind'].lower()}{kind_suffix(gvk.get('group', ''), gvk['version'])}.json"
                key = (sub, fname)
                if key in seen:
                    # Two groups sharing a first label and a kind: keep the
                    # first (sorted by definition name) and say so.
                    if seen[key] != name and strict:
                        print(f"note: {fname}: keeping {seen[key]}, skipping {name}", file=sys.stderr)
                    continue
                seen[key] = name
                write_json(work / sub / fname, standalone(name, gvk, defs, strict))
                count += 1
        for kind, (root, group, version, deps) in monitoring_schemas(defs).items():
            fname = f"{kind.lower()}{kind_suffix(group, version)}.json"
            write_json(work / sub / fname, custom_standalone(kind, root, group, version, deps, defs, strict))
            count += 1
    if args.out.exists():
        shutil.rmtree(args.out)
    os.replace(work, args.out)
    print(f"kubeconform-schemas: wrote {count} schemas to {args.out}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
