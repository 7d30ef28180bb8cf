"""Persistence, one folder per backend; each implements every port of `soc_core.store.StoreBackend`.

    stores/sqlite/     embedded mode: one SQLite file (WAL) in the data folder, the rule state beside it
    stores/elastic/    distributed mode: Elasticsearch indices under a prefix
    stores/*_records.py  what the backends share about a domain's stored shape

Only the composition root (`socpipe.runtime.build_backend`) picks a backend; the API, the console
and the stages see the ports. A third backend is a third folder with a `Backend` class, plus one
line in `build_backend`; the contract tests (`tests/contract`) run against every backend.
"""
