"""Typed errors of the inspection domain; `api.problems` maps them to HTTP answers.

    SocError
    └── InspectionError
        ├── AccessDenied      an inspector asked for a unit outside the plans they belong to
        └── EvidenceRejected  an upload that cannot be kept (empty, unreadable)
            └── EvidenceTooLarge

"No such plan, visit, finding, evidence file or unit" and "a change that makes no sense" (a team
member who is not an inspector, a unit not in the registry) are the shared `api.errors.NotFound` and
`api.errors.InvalidChange`. Routes never catch them: the console's inspection pages answer them with
a short page (`api.inspections.routes.error_response`), the API with problem details.
"""

from __future__ import annotations

from soc_core.errors import SocError


class InspectionError(SocError):
    pass


class AccessDenied(InspectionError):
    pass


class EvidenceRejected(InspectionError):
    pass


class EvidenceTooLarge(EvidenceRejected):
    pass
