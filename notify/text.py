"""The early warning in Vietnamese: what was seen, why it matters, what to do now, and the link.

Everything that comes from logs (host, user, rule text) is shown with its control and
bidirectional characters made visible (`soc_core.text.show_controls`), and escaped in the HTML
part, so a hostile host name cannot rewrite the message a unit reads. Times are shown in
Asia/Ho_Chi_Minh. Guidance is data (`guidance.yaml`, or `SOC_NOTIFY_GUIDANCE_FILE`): per checklist
code first, then per ATT&CK tactic of the rule, then the default.
"""

from __future__ import annotations

import html
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from soc_core.alert import Alert, Severity
from soc_core.errors import ConfigError
from soc_core.text import show_controls

VN_TZ = ZoneInfo("Asia/Ho_Chi_Minh")
SIGNATURE = "Trung tâm Giám sát an toàn thông tin (SOC) tỉnh"

SEVERITY_VI = {
    Severity.LOW: "Thấp",
    Severity.MEDIUM: "Trung bình",
    Severity.HIGH: "Cao",
    Severity.CRITICAL: "Nghiêm trọng",
}
SEVERITY_WHY = {
    Severity.LOW: "Mức thấp: cần theo dõi, chưa cần xử lý khẩn.",
    Severity.MEDIUM: "Mức trung bình: cần kiểm tra trong ngày làm việc.",
    Severity.HIGH: "Mức cao: có khả năng hệ thống đang bị tấn công, cần xử lý ngay.",
    Severity.CRITICAL: "Mức nghiêm trọng: dấu hiệu tấn công rõ ràng, cần xử lý ngay lập tức.",
}


class Advice(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    why: str
    do: list[str] = Field(min_length=1)


class Guidance(BaseModel):
    """Why it matters and what to do, per checklist code, per rule family (ATT&CK tactic id)."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    checklist: dict[str, Advice] = Field(default_factory=dict)
    families: dict[str, Advice] = Field(default_factory=dict)
    default: Advice

    def for_alert(self, alert: Alert) -> list[Advice]:
        """The advice that applies, most specific first (every checklist code, else a family,
        else the default)."""
        found = [self.checklist[c.upper()] for c in alert.checklist if c.upper() in self.checklist]
        if found:
            return found
        for threat in alert.threat:
            tactic = (threat.tactic or {}).get("id")
            if tactic in self.families:
                return [self.families[tactic]]
        return [self.default]

    @classmethod
    def load(cls, path: Path | None = None) -> Guidance:
        source = path or Path(__file__).with_name("guidance.yaml")
        try:
            return cls.model_validate(yaml.safe_load(source.read_text(encoding="utf-8")))
        except (OSError, yaml.YAMLError, ValidationError) as exc:
            raise ConfigError(f"notification guidance not loaded: {exc}", path=str(source)) from exc


def vn_time(at: datetime) -> str:
    """`14:05:07 ngày 05/12/2026` in Vietnam time."""
    return at.astimezone(VN_TZ).strftime("%H:%M:%S ngày %d/%m/%Y")


def _shown(value: str | None, missing: str = "không rõ") -> str:
    return show_controls(value) if value else missing


@dataclass(frozen=True, slots=True)
class Written:
    subject: str
    text: str
    html: str


def _html_line(line: str) -> str:
    """A line, escaped; one that is a link (ours: the acknowledgement, the console) is clickable."""
    escaped = html.escape(line)
    if line.startswith(("https://", "http://")) and " " not in line:
        return f'<a href="{escaped}">{escaped}</a>'
    return escaped


def _render(title: str, sections: Sequence[tuple[str, Sequence[str]]], footer: Sequence[str]) -> Written:
    """Plain text and HTML from the same sections (heading, lines); the HTML escapes everything."""
    text_parts = [title, ""]
    html_parts = [f"<p><strong>{html.escape(title)}</strong></p>"]
    for n, (heading, lines) in enumerate(sections, 1):
        text_parts.append(f"{n}. {heading}")
        text_parts.extend(f"- {line}" for line in lines)
        text_parts.append("")
        items = "".join(f"<li>{_html_line(line)}</li>" for line in lines)
        html_parts.append(f"<p><strong>{n}. {html.escape(heading)}</strong></p><ul>{items}</ul>")
    text_parts.extend(footer)
    html_parts.extend(f"<p>{html.escape(line)}</p>" for line in footer)
    return Written(title, "\n".join(text_parts).strip() + "\n", "\n".join(html_parts))


def early_warning(
    alert: Alert,
    guidance: Guidance,
    *,
    system_name: str | None,
    unit_name: str | None,
    ack_link: str | None,
    ack_expires: datetime | None,
    escalation_step: int = 0,
) -> Written:
    """The message about one alert (an escalation says so in its title and first line)."""
    level = SEVERITY_VI[alert.severity].upper()
    host = _shown(alert.host_name)
    prefix = f"[LEO THANG LẦN {escalation_step}] " if escalation_step else ""
    title = f"{prefix}[CẢNH BÁO SỚM – MỨC {level}] {show_controls(alert.rule.name)} trên máy {host}"
    seen = [
        f"Máy: {host}",
        f"Hệ thống thông tin: {_shown(system_name or alert.soc.system.name or alert.soc.system.id)}",
        f"Đơn vị: {_shown(unit_name or alert.soc.unit.name or alert.soc.unit.id)}",
        f"Thời điểm: {vn_time(alert.timestamp)} (giờ Việt Nam)",
        f"Quy tắc phát hiện: {show_controls(alert.rule.name)}",
    ]
    if alert.rule.description:
        seen.append(f"Diễn giải: {show_controls(alert.rule.description)}")
    if alert.user_name:
        seen.append(f"Tài khoản: {show_controls(alert.user_name)}")
    if alert.count > 1:
        seen.append(f"Số lần lặp lại: {alert.count}")
    advice = guidance.for_alert(alert)
    why = [SEVERITY_WHY[alert.severity], *(a.why for a in advice)]
    if alert.checklist:
        why.append(f"Điểm yếu theo danh mục kiểm tra: {', '.join(alert.checklist)}")
    todo = [step for a in advice for step in a.do]
    sections: list[tuple[str, Sequence[str]]] = [
        ("Hiện tượng phát hiện", seen),
        ("Vì sao cần quan tâm", why),
        ("Việc cần làm ngay", todo),
    ]
    if escalation_step:
        sections.insert(
            0,
            (
                "Leo thang",
                [
                    f"Cảnh báo mức {SEVERITY_VI[alert.severity].lower()} này chưa được xác nhận tiếp nhận "
                    "trong thời hạn quy định."
                ],
            ),
        )
    if ack_link and ack_expires:
        sections.append(
            (
                "Xác nhận đã tiếp nhận",
                [
                    "Đề nghị đơn vị bấm vào liên kết sau để xác nhận đã tiếp nhận cảnh báo "
                    f"(hiệu lực đến {vn_time(ack_expires)}):",
                    ack_link,
                ],
            )
        )
    footer = [f"Mã cảnh báo: {alert.id}", SIGNATURE]
    return _render(title, sections, footer)


def digest(alerts: Sequence[Alert], total: int, reason: str, console_url: str) -> Written:
    """One message for many alerts (a flood, or the low alerts held during quiet hours)."""
    by_severity: dict[Severity, int] = {}
    for alert in alerts:
        by_severity[alert.severity] = by_severity.get(alert.severity, 0) + 1
    title = f"[TỔNG HỢP CẢNH BÁO] {total} cảnh báo {reason}"
    listed = [
        f"{vn_time(a.timestamp)} – {SEVERITY_VI[a.severity]} – {show_controls(a.rule.name)} – "
        f"máy {_shown(a.host_name)}"
        for a in alerts
    ]
    if total > len(alerts):
        listed.append(f"… và {total - len(alerts)} cảnh báo khác")
    counts = [f"{SEVERITY_VI[s]}: {n}" for s, n in sorted(by_severity.items(), key=lambda i: -i[0].rank)]
    sections: list[tuple[str, Sequence[str]]] = [
        ("Thống kê theo mức độ (trong danh sách)", counts),
        ("Danh sách cảnh báo", listed),
        ("Xem chi tiết", [f"{console_url.rstrip('/')}/alerts"]),
    ]
    return _render(title, sections, [SIGNATURE])
