"""Counting a store's calls: how many queries a page asks for (the rules listing must not grow with
the number of rules). Shared by the tests and bench/bench_rules_page.py."""

from __future__ import annotations

from collections import Counter
from typing import Any

ALERT_AGGREGATIONS = ("alert_facets", "alert_histogram", "search_alerts")


def count_calls(obj: Any, names: tuple[str, ...] = ALERT_AGGREGATIONS) -> Counter[str]:
    """Wrap `obj`'s methods `names` on the instance; the counter tells how often each was called."""
    calls: Counter[str] = Counter()
    for name in names:
        real = getattr(obj, name)

        def counted(*args: Any, _real: Any = real, _name: str = name, **kwargs: Any) -> Any:
            calls[_name] += 1
            return _real(*args, **kwargs)

        setattr(obj, name, counted)
    return calls
