"""The kernel every other package shares; it imports none of them (checked by `make layers`).

- models: `event` (ECS), `alert`, `records` (raw records, dead letters), `registry`, `coverage`,
  `inspections`, `rule_state`
- `errors` (one root, typed, with context), `settings` (read once by the composition root),
  `metrics` (Prometheus), `health`
- ports: `bus.Bus` (with the in-process adapter), `store.StoreBackend` and its domain ports,
  `rule_state.RuleStateStore`, `coverage.CoverageRepository`, `inspections.InspectionRepository`
- what both run modes do over those ports: `pipeline` (normalize, detect and store one batch) and
  `registry_cache` (token -> source, source -> context, for the hot path)

Adapters live in `stores/` and `buses/`; `socpipe/` picks them.

`flat` (the dotted view of an event) and `guards` may run compiled by mypyc (`make native`); importing the
package refuses a build made from other source (`native`).
"""

from __future__ import annotations

from pathlib import Path

from soc_core.native import check_compiled_modules

check_compiled_modules(Path(__file__).resolve().parent)
