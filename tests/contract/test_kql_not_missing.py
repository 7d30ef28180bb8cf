"""`not field:value` keeps the documents without the field, on both stores (Kibana's and
Elasticsearch's meaning). SQLite compared a NULL column to the value, got NULL, and `NOT NULL` is
NULL: the alerts with no user fell out of `not user_name:root` there and not in Elasticsearch."""

from __future__ import annotations

from soc_core.kql import ALERT_FIELDS, parse_for
from soc_core.store import AlertSearch, Store
from tests.contract.test_store_triage_contract import triage_alert


def test_not_keeps_documents_without_the_field(store: Store) -> None:
    store.put_alerts([triage_alert(1, user="root"), triage_alert(2, user=None), triage_alert(3, user="an")])
    store.refresh()

    def users(query: str) -> list[str | None]:
        found = store.search_alert_queue(AlertSearch(kql=parse_for(query, ALERT_FIELDS), ascending=True))
        return [a.user_name for a in found.items]

    assert users("not user_name:root") == [None, "an"]
    assert users("not user_name:r*") == [None, "an"]
    assert users("host_name:web01 and not (user_name:root or user_name:an)") == [None]
    assert users("not not user_name:root") == ["root"]
