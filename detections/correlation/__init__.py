"""Sigma correlation rules: parsed documents, resolution, per-group windows and the engine.

`document` parses a correlation document per file (cached with the rules), `resolve` binds its
references to the loaded rule set and maps its field names through the base rules' pipeline,
`hits` turns a base-rule match into the hits a correlation reads, `windows` holds one group's
window state, `engine` orders hits by event time and raises alerts, `alerts` builds them.
`hits`, `windows` and `engine` may run compiled by mypyc (`make native`); importing the package
refuses a build made from other source (`soc_core.native`).
"""

from pathlib import Path

from soc_core.native import check_compiled_modules

check_compiled_modules(Path(__file__).resolve().parent)
