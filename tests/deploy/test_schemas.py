"""deploy/tools/schemas.py: the CRD -> JSON-schema conversion kubeconform reads (strict) and the
self-contained Kubernetes schemas. Small hand-made inputs; the real schemas are exercised by
test_k8s.py."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path
from types import ModuleType

import yaml

from tests.deploy.tools import ROOT


def _schemas() -> ModuleType:
    spec = importlib.util.spec_from_file_location("deploy_schemas", ROOT / "deploy" / "tools" / "schemas.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


schemas = _schemas()


def test_strict_closes_objects_and_spells_openapi_extensions_as_json_schema() -> None:
    source = {
        "type": "object",
        "properties": {
            "port": {"x-kubernetes-int-or-string": True},
            "note": {"type": "string", "nullable": True},
            "free": {"type": "object", "x-kubernetes-preserve-unknown-fields": True, "properties": {}},
            "list": {"type": "array", "items": {"type": "object", "properties": {"a": {"type": "integer"}}}},
        },
    }
    out = schemas.strict(source)
    assert out["additionalProperties"] is False
    assert out["properties"]["port"] == {"oneOf": [{"type": "string"}, {"type": "integer"}]}
    assert out["properties"]["note"]["type"] == ["string", "null"]
    assert "additionalProperties" not in out["properties"]["free"]  # preserved: open
    assert out["properties"]["list"]["items"]["additionalProperties"] is False


def test_strict_leaves_fields_named_like_keywords_and_default_values_alone() -> None:
    """A field named `nullable` or `properties` is a field, not a keyword; a `default` is data."""
    source = {
        "type": "object",
        "properties": {
            "nullable": {"type": "boolean"},
            "properties": {"type": "object", "properties": {"x": {"type": "string"}}},
        },
        "default": {"nullable": True, "properties": {}},
    }
    out = schemas.strict(source)
    assert out["properties"]["nullable"] == {"type": "boolean"}
    assert out["properties"]["properties"]["additionalProperties"] is False
    assert "additionalProperties" not in out["properties"]
    assert out["default"] == {"nullable": True, "properties": {}}


def test_convert_writes_one_schema_per_version_named_as_kubeconform_looks_them_up(tmp_path: Path) -> None:
    crd = {
        "apiVersion": "apiextensions.k8s.io/v1",
        "kind": "CustomResourceDefinition",
        "spec": {
            "group": "example.org",
            "names": {"kind": "Widget"},
            "versions": [
                {"name": v, "schema": {"openAPIV3Schema": {"type": "object", "properties": {"spec": {}}}}}
                for v in ("v1", "v1beta1")
            ],
        },
    }
    path = tmp_path / "crd.yaml"
    path.write_text(yaml.safe_dump_all([{"kind": "Namespace"}, crd]))
    written = schemas.convert(path, tmp_path / "out")
    assert written == ["example.org/widget_v1.json", "example.org/widget_v1beta1.json"]
    saved = json.loads((tmp_path / "out" / "example.org" / "widget_v1.json").read_text())
    assert saved["additionalProperties"] is False


def test_standalone_carries_only_the_definitions_it_reaches() -> None:
    definitions = {
        "A": {"properties": {"b": {"$ref": "#/$defs/B"}}},
        "B": {"type": "string"},
        "Unused": {"type": "integer"},
    }
    schema = {
        "$id": "https://kubernetes.io/api/x",
        "properties": {"a": {"$ref": "/api/_definitions.json#/$defs/A"}},
    }
    out = schemas.standalone(schema, definitions)
    assert "$id" not in out
    assert set(out["$defs"]) == {"A", "B"}
    assert out["properties"]["a"]["$ref"] == "#/$defs/A"
