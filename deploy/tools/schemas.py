"""The JSON schemas the deployment tests validate deploy/k8s against (tests/deploy), built offline.

kubeconform reads a folder of JSON schemas, one per kind and API version. None are written by hand:

- Kubernetes: the schemas generated from the Kubernetes OpenAPI that the PyPI package
  `kubernetes-validate` ships (deploy/tools/requirements.txt, hash-checked), strict flavour, for
  the versions in `KUBERNETES_VERSIONS`; each made self-contained (`standalone`).
- Strimzi (Kafka, KafkaNodePool, KafkaTopic, KafkaUser): the CRDs generated the way Strimzi's own
  build generates its install files, by its `crd-generator` run over its `api` model classes (both
  from Maven Central, pinned in deploy/tools/strimzi/pom.xml), with the arguments of the api module's
  own pom. The generator needs Java 21 or newer.
- ECK (Elasticsearch) and KEDA (ScaledObject, TriggerAuthentication): the CRD YAML inside the
  operators' Go modules, fetched by `go mod download` (checked against the Go checksum database and
  against the sums pinned below).

Each CRD version's `openAPIV3Schema` becomes `crds/<group>/<kind>_<version>.json` (kubeconform's
naming), made strict as kubeconform's own converter does: an object that lists its properties
accepts no others, so a misspelt field fails.

    .venv/bin/python deploy/tools/schemas.py            # into .socpipe/tools/schemas (make deploy-tools)
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parents[2]
HERE = Path(__file__).resolve().parent
OUT = ROOT / ".socpipe" / "tools" / "schemas"

# The Kubernetes releases the manifests are checked against: the oldest we claim, and the newest
# kubernetes-validate has.
KUBERNETES_VERSIONS = ("1.33.0", "1.37.0")

# Go modules whose zips carry the operators' CRDs: (module, version, go.sum hash, CRD files inside).
GO_MODULES = (
    (
        "github.com/elastic/cloud-on-k8s/v3",
        "v3.5.0",
        "h1:sR4oj+gNnwI9hgsKhBwjUlx+5F2T/kND40hrzaogtek=",
        ("config/crds/v1/all-crds.yaml",),
    ),
    (
        # v2.21 needs Go 1.27; v2.20 is the newest this machine's Go 1.26 unpacks
        "github.com/kedacore/keda/v2",
        "v2.20.2",
        "h1:SR60v8uIcelbveS8n/1jcl8tLdBBIbHMxmdOHw8tKqA=",
        (
            "config/crd/bases/keda.sh_scaledobjects.yaml",
            "config/crd/bases/keda.sh_triggerauthentications.yaml",
        ),
    ),
)

# pinned, not Maven's default for the prefix `dependency:` (which depends on the Maven version)
DEPENDENCY_PLUGIN = "org.apache.maven.plugins:maven-dependency-plugin:3.8.1"

# The Strimzi model classes whose CRDs deploy/k8s uses, and the generator's arguments from
# io.strimzi:api's pom (execution `generate-crd-co-install-v1`).
STRIMZI_CLASSES = (
    "io.strimzi.api.kafka.model.kafka.Kafka",
    "io.strimzi.api.kafka.model.nodepool.KafkaNodePool",
    "io.strimzi.api.kafka.model.topic.KafkaTopic",
    "io.strimzi.api.kafka.model.user.KafkaUser",
)
STRIMZI_ARGS = (
    "--label", "app:strimzi", "--label", "strimzi.io/crd-install:true",
    "--target-kube", "1.16+", "--crd-api-version", "v1",
    "--api-versions", "v1", "--storage-version", "v1", "--yaml",
)  # fmt: skip


class SchemaBuildError(RuntimeError):
    """A tool or download the schema build needs failed; says which and how."""


def run(cmd: list[str], cwd: Path | None = None) -> str:
    """Run a command; its stderr goes into the error when it fails (never swallowed)."""
    proc = subprocess.run(cmd, cwd=cwd, capture_output=True, text=True, check=False)
    if proc.returncode != 0:
        raise SchemaBuildError(f"{' '.join(cmd[:4])} ... failed ({proc.returncode}): {proc.stderr[-2000:]}")
    return proc.stdout


SCHEMA_MAPS = ("properties", "patternProperties")  # name -> schema
SCHEMA_LISTS = ("allOf", "anyOf", "oneOf")  # [schema]
SCHEMA_VALUES = ("items", "additionalProperties", "not")  # schema (or a list, or a boolean)


def strict(schema: Any) -> Any:
    """kubeconform's openapi2jsonschema, strict: closed objects, int-or-string and nullable spelt
    the JSON-schema way (OpenAPI v3 extensions a JSON-schema validator does not know). Walks only
    the subschemas, so a field that happens to be named `nullable` or `properties`, or a `default`
    value, is left alone."""
    if not isinstance(schema, dict):
        return schema
    out = dict(schema)
    for key in SCHEMA_MAPS:
        if isinstance(out.get(key), dict):
            out[key] = {name: strict(sub) for name, sub in out[key].items()}
    for key in SCHEMA_LISTS + SCHEMA_VALUES:
        if isinstance(out.get(key), list):
            out[key] = [strict(sub) for sub in out[key]]
        elif isinstance(out.get(key), dict):
            out[key] = strict(out[key])
    if out.pop("x-kubernetes-int-or-string", False):
        out.pop("type", None)
        out["oneOf"] = [{"type": "string"}, {"type": "integer"}]
    if out.pop("nullable", False) and isinstance(out.get("type"), str):
        out["type"] = [out["type"], "null"]
    preserve = out.get("x-kubernetes-preserve-unknown-fields", False)
    if "properties" in out and "additionalProperties" not in out and not preserve:
        out["additionalProperties"] = False
    return out


REF = re.compile(r'"\$ref": "(?:/api/_definitions\.json)?#/\$defs/([^"]+)"')


def standalone(schema: dict[str, Any], definitions: dict[str, Any]) -> dict[str, Any]:
    """A kubernetes-validate schema made self-contained, as kubeconform's `-standalone` schemas are:
    the definitions it reaches copied into its own `$defs`, its references pointed there, and no
    web `$id` (the package resolves `/api/_definitions.json` itself; kubeconform reads files). A
    kind then loads only what it uses, not the 5 MB of every definition."""
    schema.pop("$id", None)
    text = json.dumps(schema)
    wanted, seen = REF.findall(text), set()
    while wanted:
        name = wanted.pop()
        if name not in seen:
            seen.add(name)
            wanted += REF.findall(json.dumps(definitions[name]))
    out = dict(json.loads(text))
    out["$defs"] = {name: definitions[name] for name in sorted(seen)}
    return dict(json.loads(json.dumps(out).replace('"/api/_definitions.json#', '"#')))


def convert(crd_file: Path, out: Path) -> list[str]:
    """Every served version of every CRD in `crd_file` as `out/<group>/<kind>_<version>.json`."""
    written = []
    for doc in yaml.safe_load_all(crd_file.read_text()):
        if not doc or doc.get("kind") != "CustomResourceDefinition":
            continue
        spec = doc["spec"]
        group, kind = spec["group"], spec["names"]["kind"].lower()
        for version in spec["versions"]:
            schema = version.get("schema", {}).get("openAPIV3Schema")
            if schema is None:
                raise SchemaBuildError(f"{crd_file.name}: {kind} {version['name']} has no schema")
            target = out / group / f"{kind}_{version['name']}.json"
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_text(json.dumps(strict(schema), indent=1, sort_keys=True))
            written.append(f"{group}/{target.name}")
    return written


def find_java(minimum: int = 21) -> str:
    """A Java of at least `minimum` (Strimzi's generator is built for 21): JAVA_HOME, the PATH's, then
    /usr/lib/jvm (Debian's default Java is 17 here; a newer JDK lies beside it)."""
    on_path = shutil.which("java")
    homes = [os.environ.get("JAVA_HOME", ""), str(Path(on_path).resolve().parents[1]) if on_path else ""]
    homes += sorted((str(p) for p in Path("/usr/lib/jvm").glob("*")), reverse=True)
    for home in homes:
        java = Path(home) / "bin" / "java"
        if not home or not java.is_file():
            continue
        version = subprocess.run([str(java), "-version"], capture_output=True, text=True, check=False).stderr
        match = re.search(r'version "(\d+)', version)
        if match and int(match.group(1)) >= minimum:
            return str(java)
    raise SchemaBuildError(f"Strimzi's crd-generator needs Java >= {minimum}; set JAVA_HOME to one")


def strimzi(out: Path, work: Path) -> tuple[str, list[str]]:
    """Generate Strimzi's CRDs with its own generator, then convert them."""
    pom = HERE / "strimzi" / "pom.xml"
    version = re.search(r"<strimzi.version>([^<]+)<", pom.read_text())
    if version is None:
        raise SchemaBuildError(f"{pom}: no <strimzi.version>")
    classpath = work / "strimzi.classpath"
    run(
        [
            "mvn",
            "-q",
            "-B",
            "-C",
            "-f",
            str(pom),
            DEPENDENCY_PLUGIN + ":build-classpath",
            f"-Dmdep.outputFile={classpath}",
        ]
    )
    crds = work / "strimzi"
    crds.mkdir(parents=True, exist_ok=True)
    targets = [f"{cls}={crds / (cls.rsplit('.', 1)[1].lower() + '.yaml')}" for cls in STRIMZI_CLASSES]
    java = find_java()
    run(
        [
            java,
            "-cp",
            classpath.read_text().strip(),
            "io.strimzi.crdgenerator.CrdGenerator",
            *STRIMZI_ARGS,
            *targets,
        ]
    )
    written = []
    for crd in sorted(crds.glob("*.yaml")):
        written += convert(crd, out)
    return version.group(1), written


def go_module(module: str, version: str, expected_sum: str) -> Path:
    """`go mod download` (verified by the Go checksum database) and our pinned sum; its folder."""
    info = json.loads(run(["go", "mod", "download", "-json", f"{module}@{version}"], cwd=HERE))
    if info.get("Error"):
        raise SchemaBuildError(f"{module}@{version}: {info['Error']}")
    if info["Sum"] != expected_sum:
        raise SchemaBuildError(f"{module}@{version}: sum {info['Sum']}, pinned {expected_sum}")
    return Path(info["Dir"])


def kubernetes_schemas() -> tuple[str, Path]:
    """The folder of Kubernetes schemas inside the installed kubernetes-validate package."""
    from importlib.metadata import PackageNotFoundError, distribution

    try:
        dist = distribution("kubernetes-validate")
    except PackageNotFoundError as exc:
        raise SchemaBuildError(
            "kubernetes-validate is not installed: pip install --no-deps --require-hashes "
            "-r deploy/tools/requirements.txt"
        ) from exc
    folder = Path(str(dist.locate_file("kubernetes_validate/kubernetes-json-schema")))
    if not folder.is_dir():
        raise SchemaBuildError(f"kubernetes-validate has no schema folder at {folder}")
    return dist.version, folder


def build(out: Path) -> dict[str, Any]:
    """Build everything into `out` (replaced whole) and write `out/versions.json` (what came from where)."""
    tmp = out.with_name(out.name + ".tmp")
    shutil.rmtree(tmp, ignore_errors=True)
    crds = tmp / "crds"
    k8s_version, k8s_folder = kubernetes_schemas()
    for version in KUBERNETES_VERSIONS:
        source = k8s_folder / f"v{version}-local-strict"
        if not source.is_dir():
            raise SchemaBuildError(f"kubernetes-validate {k8s_version} has no schemas for {version}")
        target = tmp / "kubernetes" / source.name
        target.mkdir(parents=True)
        definitions = json.loads((source / "_definitions.json").read_text())["$defs"]
        for schema in source.glob("*.json"):
            if schema.name != "_definitions.json":
                doc = json.loads(schema.read_text())
                (target / schema.name).write_text(json.dumps(standalone(doc, definitions)))
    strimzi_version, strimzi_files = strimzi(crds, tmp / "work")
    versions: dict[str, Any] = {
        "kubernetes-validate": {"version": k8s_version, "kubernetes": list(KUBERNETES_VERSIONS)},
        "strimzi": {
            "version": strimzi_version,
            "source": "io.strimzi:api + crd-generator",
            "schemas": strimzi_files,
        },
    }
    for module, version, expected_sum, files in GO_MODULES:
        folder = go_module(module, version, expected_sum)
        written = []
        for name in files:
            written += convert(folder / name, crds)
        versions[module] = {"version": version, "sum": expected_sum, "schemas": written}
    shutil.rmtree(tmp / "work")
    (tmp / "versions.json").write_text(json.dumps(versions, indent=2, sort_keys=True) + "\n")
    shutil.rmtree(out, ignore_errors=True)
    tmp.rename(out)
    return versions


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, default=OUT)
    args = parser.parse_args()
    try:
        versions = build(args.out)
    except SchemaBuildError as exc:
        print(f"schemas: {exc}", file=sys.stderr)
        return 1
    count = sum(len(v.get("schemas", ())) for v in versions.values())
    print(f"schemas: {count} CRD schemas and the Kubernetes schemas in {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
