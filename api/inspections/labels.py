"""Words for the codes the inspections use (checklist items, statuses, kinds), as message ids.

The console pages, the dossier's PDF and DOCX (always Vietnamese, as the teams' documents are) and the
JSON labels read the same words: each table maps a code to its English message id, translated through
the `documents` catalog (`api.i18n`): `label(FINDING_STATUS, "open", translations("vi"))`.
"""

from __future__ import annotations

from api.i18n import N_

CHECKLIST: dict[str, str] = {
    "VN-01": N_("Unlicensed or cracked software"),
    "VN-02": N_("Windows Firewall turned off on workstations"),
    "VN-03": N_("Passwords saved in browsers"),
    "VN-04": N_("Citizen or company documents left on service computers"),
    "VN-05": N_("Administrator rights for guest or shared accounts"),
    "VN-06": N_("Computers or kiosks without centralised anti-malware"),
    "VN-07": N_("No staff assigned to information security"),
    "VN-08": N_("Security level not proposed or not approved"),
    "VN-09": N_("Missing security patches"),
    "VN-10": N_("USB and removable media use"),
    "VN-11": N_("Web portal admin accounts misused"),
    "VN-12": N_("State-secret computer connected to the Internet"),
}
CHECKLIST_CODES = tuple(CHECKLIST)

SEVERITY: dict[str, str] = {
    "low": N_("Low"),
    "medium": N_("Medium"),
    "high": N_("High"),
    "critical": N_("Critical"),
}

ALERT_STATUS: dict[str, str] = {
    "new": N_("New"),
    "acknowledged": N_("Acknowledged"),
    "in_progress": N_("In progress"),
    "resolved": N_("Resolved"),
    "false_positive": N_("False positive"),
}

INCIDENT_STATUS: dict[str, str] = {
    "new": N_("New"),
    "in_progress": N_("In progress"),
    "resolved": N_("Resolved"),
    "closed": N_("Closed"),
}

FINDING_STATUS: dict[str, str] = {
    "open": N_("Open"),
    "remediated": N_("Remediated"),
    "verified": N_("Verified"),
}

REMEDIATION: dict[str, str] = {
    "on_time": N_("Remediated on time"),
    "late": N_("Remediated late"),
    "overdue": N_("Overdue, not remediated"),
    "pending": N_("Within the remediation period"),
}

SELF_ASSESSMENT: dict[str, str] = {
    "received": N_("Received"),
    "received_late": N_("Received late"),
    "pending": N_("Not yet due"),
    "overdue": N_("Overdue, not received"),
    "not_required": N_("Not required"),
}

PLAN_KIND: dict[str, str] = {
    "periodic": N_("Periodic"),
    "ad_hoc": N_("Ad hoc"),
}

TEAM_ROLE: dict[str, str] = {
    "head": N_("Head of team"),
    "deputy": N_("Deputy head"),
    "member": N_("Member"),
    "secretary": N_("Secretary"),
}

APPROVAL: dict[str, str] = {
    "not_proposed": N_("Not proposed"),
    "proposed": N_("Proposed, not approved"),
    "approved": N_("Approved"),
}

GAP_KIND: dict[str, str] = {
    "source": N_("Log source"),
    "system": N_("System"),
    "endpoint": N_("Endpoint"),
}

UNIT_KIND: dict[str, str] = {
    "province": N_("Province"),
    "department": N_("Department"),
    "commune": N_("Commune"),
    "service_centre": N_("Public service centre"),
    "other": N_("Other"),
}

ENDPOINT_KIND: dict[str, str] = {
    "workstation": N_("Workstation"),
    "kiosk": N_("Kiosk"),
    "server": N_("Server"),
}

REMINDER_KIND: dict[str, str] = {
    "finding_due": N_("Remediation due soon"),
    "finding_overdue": N_("Remediation overdue"),
    "self_assessment_due": N_("Self-assessment report due soon"),
    "self_assessment_overdue": N_("Self-assessment report overdue"),
}
