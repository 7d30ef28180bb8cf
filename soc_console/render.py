"""The console's Jinja2 environment: autoescape, the language (Jinja i18n), CSRF tokens, hostile text.

Log content is hostile. Jinja2 autoescapes every `{{ }}`; on top of that every string printed passes
through `finalize`, which shows control characters and bidirectional overrides as visible symbols
(a log line cannot rewrite the terminal-like view or reorder what the analyst reads). Search terms are
highlighted by escaping the text first and only then wrapping matches in `<mark>`.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime
from functools import lru_cache
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from fastapi import Request
from fastapi.templating import Jinja2Templates
from jinja2 import pass_context
from markupsafe import Markup, escape

from api.auth.csrf import csrf_token as _csrf_token
from api.auth.deps import PROVINCE_WIDE, Principal, Role, current_principal
from api.coverage.view import REASON, SCOPE_LABELS, TARGET_STATE, gap_reason
from api.deps import app_context
from api.i18n import N_, label
from api.i18n import duration as _duration
from api.inspections import labels
from api.views import service as views
from soc_console.i18n import format_number, locale_of, translations
from soc_core import kql
from soc_core.errors import QueryError
from soc_core.kql.highlight import Term, spans, terms
from soc_core.saved_views import SavedView, ViewKind
from soc_core.text import show_controls

HERE = Path(__file__).parent
VN_TZ = ZoneInfo("Asia/Ho_Chi_Minh")
templates = Jinja2Templates(directory=str(HERE / "templates"))


ROLE_LABELS = {
    "admin": N_("Administrator"),
    "analyst": N_("SOC analyst"),
    "police": N_("Provincial police"),
    "inspector": N_("Inspection team"),
    "viewer": N_("Viewer"),
}
FACET_LABELS = {
    "severity": N_("Severity"),
    "status": N_("Status"),
    "rule": N_("Rule"),
    "unit": N_("Unit"),
    "system": N_("System"),
    "host": N_("Host"),
    "user": N_("User"),
    "checklist": N_("Checklist code"),
    "technique": N_("ATT&CK technique"),
    "assignee": N_("Assignee"),
    "visit": N_("Inspection visit"),
}

PIVOT_LABELS = {"host": N_("Host"), "user": N_("User"), "source_ip": N_("Source IP")}
RELATED_LABELS = {
    "host": N_("Same host"),
    "user": N_("Same user"),
    "source_ip": N_("Same source IP"),
    "rule": N_("Same rule"),
}

CHANGE_LABELS = {
    "status": N_("Status"),
    "assignee": N_("Assignee"),
    "tags": N_("Tags"),
    "comment": N_("Comment"),
    "incident": N_("Incident"),
}


def finalize(value: Any) -> Any:
    """Every printed value: None prints as nothing, strings show their control characters."""
    if value is None:
        return ""
    if isinstance(value, Markup):
        return value
    if isinstance(value, str):
        return show_controls(value)
    return value


def vn_datetime(value: datetime | str | None) -> str:
    """dd/MM/yyyy HH:mm in Asia/Ho_Chi_Minh, the console's convention (in both languages)."""
    if value is None or value == "":
        return "—"
    if isinstance(value, str):
        value = datetime.fromisoformat(value.replace("Z", "+00:00"))
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    return value.astimezone(VN_TZ).strftime("%d/%m/%Y %H:%M")


def vn_number(value: int | float) -> str:
    """1.234,5 in Vietnamese."""
    return format_number(value, "vi")


def _marked(plain: str, ranges: list[tuple[int, int]], opening: str, closing: str) -> Markup:
    """Escape `plain`, wrapping each (start, end) range (in order, not overlapping) in trusted tags."""
    out: list[str] = []
    last = 0
    for start, end in ranges:
        out.append(str(escape(plain[last:start])))
        out.append(f"{opening}{escape(plain[start:end])}{closing}")
        last = end
    out.append(str(escape(plain[last:])))
    return Markup("".join(out))


def _wrap(text: Any, pattern: re.Pattern[str] | None, opening: str, closing: str) -> Markup:
    """Escape `text`, then wrap each match of `pattern` in the given (trusted) tags."""
    plain = show_controls("" if text is None else str(text))
    ranges = [m.span() for m in pattern.finditer(plain)] if pattern is not None else []
    return _marked(plain, ranges, opening, closing)


def _alternatives(values: list[str], flags: int = 0) -> re.Pattern[str] | None:
    ordered = sorted(values, key=len, reverse=True)
    return re.compile("|".join(re.escape(v) for v in ordered), flags) if ordered else None


@lru_cache(maxsize=256)
def _query_terms(query: str) -> tuple[Term, ...]:
    """What a (KQL) search looks for; a query that does not parse marks nothing (its page says why)."""
    try:
        return tuple(terms(kql.parse(query)))
    except QueryError:
        return ()


def mark(text: Any, wanted: list[Term]) -> Markup:
    """Escape `text` (controls made visible), then wrap where the terms occur in `<mark>`."""
    plain = show_controls("" if text is None else str(text))
    return _marked(plain, spans(plain, wanted), "<mark>", "</mark>")


def highlight(text: Any, query: str | None) -> Markup:
    """Escape `text`, then mark where the search's words occur, as the search found them: folded
    (`da xoa` marks "Đã xóa"), whole words, phrases together, nothing the query excludes."""
    return mark(text, list(_query_terms(query.strip())) if query and query.strip() else [])


def data_in(text: Any, values: Any) -> Markup:
    """A generated sentence with the data it quotes (names from the registry) marked `translate="no"`."""
    return _wrap(text, _alternatives([str(v) for v in values if v]), '<span translate="no">', "</span>")


def _request(ctx: Any) -> Request:
    request: Request = ctx["request"]
    return request


def _translations(ctx: Any) -> Any:
    return translations(locale_of(_request(ctx)))


@pass_context
def _gettext(ctx: Any, message: str) -> str:
    return str(_translations(ctx).gettext(message))


@pass_context
def _ngettext(ctx: Any, singular: str, plural: str, n: int) -> str:
    return str(_translations(ctx).ngettext(singular, plural, n))


@pass_context
def _label(ctx: Any, table: dict[str, str], key: str | None) -> str:
    """`label(L.FINDING_STATUS, f.status)`: the word for a code in the page's language."""
    return label(table, key, _translations(ctx))


@pass_context
def _reason(ctx: Any, reason: str) -> str:
    return gap_reason(reason, _translations(ctx))


@pass_context
def _duration_filter(ctx: Any, seconds: float | None) -> str:
    """`{{ seconds|duration }}`: 20 phút / 20 minutes."""
    return _duration(seconds, _translations(ctx))


@pass_context
def _num(ctx: Any, value: float) -> str:
    return format_number(value, locale_of(_request(ctx)))


@pass_context
def _lang(ctx: Any) -> str:
    return locale_of(_request(ctx))


@pass_context
def _csrf(ctx: Any) -> str:
    return _csrf_token(_request(ctx))


@pass_context
def _principal(ctx: Any) -> Principal | None:
    return current_principal(_request(ctx))


@pass_context
def _can_triage(ctx: Any) -> bool:
    principal = current_principal(_request(ctx))
    return principal is not None and principal.role in (Role.ADMIN, Role.ANALYST)


@pass_context
def _can_read_alerts(ctx: Any) -> bool:
    """The alert queue is province-wide: an inspection team sees its visits' evidence, not the queue."""
    principal = current_principal(_request(ctx))
    return principal is not None and principal.role in PROVINCE_WIDE


@pass_context
def _saved_views(ctx: Any, kind: str) -> list[SavedView]:
    """The signed-in user's views of one page (`templates/_saved_views.html`), by name."""
    request = _request(ctx)
    principal = current_principal(request)
    if principal is None:
        return []
    return views.listing(repo=app_context(request).backend.saved_views, owner=principal, kind=ViewKind(kind))


@pass_context
def _is_admin(ctx: Any) -> bool:
    principal = current_principal(_request(ctx))
    return principal is not None and principal.role is Role.ADMIN


env = templates.env
env.add_extension("jinja2.ext.i18n")
env.install_gettext_callables(_gettext, _ngettext, newstyle=True)  # type: ignore[attr-defined]
env.finalize = finalize
env.filters["vn_datetime"] = vn_datetime
env.filters["vn_number"] = vn_number
env.filters["num"] = _num
env.filters["highlight"] = highlight
env.filters["data_in"] = data_in
env.filters["duration"] = _duration_filter
env.globals.update(
    lang=_lang,
    label=_label,
    reason=_reason,
    L=labels,
    COVERAGE_SCOPES=SCOPE_LABELS,
    TARGET_STATES=TARGET_STATE,
    SOURCE_STATES=REASON,
    csrf_token=_csrf,
    current_user=_principal,
    can_triage=_can_triage,
    can_read_alerts=_can_read_alerts,
    is_admin=_is_admin,
    saved_views=_saved_views,
    page_query=views.page_query,
    SEVERITY_LABELS=labels.SEVERITY,
    STATUS_LABELS=labels.ALERT_STATUS,
    INCIDENT_STATUS_LABELS=labels.INCIDENT_STATUS,
    ROLE_LABELS=ROLE_LABELS,
    FACET_LABELS=FACET_LABELS,
    CHANGE_LABELS=CHANGE_LABELS,
    PIVOT_LABELS=PIVOT_LABELS,
    RELATED_LABELS=RELATED_LABELS,
)
