"""Typed errors of the inspection domain, and how they become HTTP answers.

    SocError
    └── InspectionError
        ├── NotFound          no such plan, visit, finding, evidence file or unit
        ├── AccessDenied      an inspector asked for a unit outside the plans they belong to
        ├── InvalidChange     a change that makes no sense (a team member who is not an inspector,
        │                     a unit not in the registry, a visit of a unit outside its plan)
        └── EvidenceRejected  an upload that cannot be kept (too large, empty, unreadable)

Routes never catch them: `install()` in `api.inspections.routes` registers `error_response`, which
answers JSON for the API and a short page for the console.
"""

from __future__ import annotations

from soc_core.errors import SocError


class InspectionError(SocError):
    pass


class NotFound(InspectionError):
    pass


class AccessDenied(InspectionError):
    pass


class InvalidChange(InspectionError):
    pass


class EvidenceRejected(InspectionError):
    pass


HTTP_STATUS: dict[type[InspectionError], int] = {
    NotFound: 404,
    AccessDenied: 403,
    InvalidChange: 422,
    EvidenceRejected: 422,
}


def status_of(exc: InspectionError) -> int:
    return next((code for kind, code in HTTP_STATUS.items() if isinstance(exc, kind)), 400)


class EvidenceTooLarge(EvidenceRejected):
    pass


HTTP_STATUS[EvidenceTooLarge] = 413
# Most specific first: `status_of` takes the first class that matches.
HTTP_STATUS = dict(sorted(HTTP_STATUS.items(), key=lambda kv: -len(kv[0].__mro__)))
