"""The same pipeline drives pysigma-backend-elasticsearch (for the differential test against ES)."""

from __future__ import annotations

from sigma.backends.elasticsearch import LuceneBackend
from sigma.collection import SigmaCollection

from detections.pipelines import socpipe_pipeline
from tests.detections.conftest import proc_rule
from tests.detections.provincial_pack import RULE_FILES


def test_lucene_conversion_uses_our_fields() -> None:
    rules = SigmaCollection.from_yaml(proc_rule("sel:\n    CommandLine|contains: 'whoami'\ncondition: sel"))
    (query,) = LuceneBackend(processing_pipeline=socpipe_pipeline()).convert(rules)
    assert "winlog.channel:Microsoft\\-Windows\\-Sysmon\\/Operational" in query
    assert "event.code:1" in query
    assert "winlog.event_data.CommandLine:*whoami*" in query


def test_provincial_pack_converts_to_lucene() -> None:
    """Every detection rule of the pack; correlation documents have no Lucene form (the backend
    raises NotImplementedError for them) and are run by our correlation engine only."""
    backend = LuceneBackend(processing_pipeline=socpipe_pipeline())
    for path in RULE_FILES:
        queries = backend.convert(SigmaCollection.from_yaml(path.read_text(encoding="utf-8")))
        assert len(queries) == 1 and queries[0], path.name
