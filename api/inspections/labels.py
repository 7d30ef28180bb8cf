"""Words the console and the exports show, Vietnamese first with the English beside it.

The console's gettext catalog belongs to the whole console; the inspection pages carry their own
pairs here so the team's vocabulary (DOMAIN.md) lives next to the code that uses it, and the PDF and
DOCX (always Vietnamese, as the teams' documents are) read the same words.
"""

from __future__ import annotations

CHECKLIST: dict[str, tuple[str, str]] = {
    "VN-01": (
        "Phần mềm không bản quyền, bẻ khóa bản quyền (có thể chứa mã độc)",
        "Unlicensed or cracked software",
    ),
    "VN-02": ("Tắt Windows Firewall trên máy trạm", "Windows Firewall turned off on workstations"),
    "VN-03": ("Lưu mật khẩu trên trình duyệt", "Passwords saved in browsers"),
    "VN-04": (
        "Máy tính phục vụ lưu tài liệu của người dân, doanh nghiệp",
        "Citizen or company documents left on service computers",
    ),
    "VN-05": (
        "Cấp quyền Administrator cho tài khoản khách, dùng chung",
        "Administrator rights for guest or shared accounts",
    ),
    "VN-06": (
        "Máy tính, kiosk chưa có phần mềm phòng chống mã độc tập trung",
        "Computers or kiosks without centralised anti-malware",
    ),
    "VN-07": ("Chưa bố trí nhân sự bảo đảm an toàn thông tin", "No staff assigned to information security"),
    "VN-08": (
        "Chưa đề xuất, phê duyệt cấp độ an toàn hệ thống thông tin",
        "Security level not proposed or not approved",
    ),
    "VN-09": ("Chưa cập nhật bản vá lỗ hổng bảo mật", "Missing security patches"),
    "VN-10": ("Sử dụng USB, thiết bị lưu trữ di động", "USB and removable media use"),
    "VN-11": (
        "Lạm dụng tài khoản quản trị Trang/Cổng thông tin điện tử",
        "Web portal admin accounts misused",
    ),
    "VN-12": (
        "Máy tính soạn thảo tài liệu bí mật nhà nước kết nối Internet",
        "State-secret computer connected to the Internet",
    ),
}
CHECKLIST_CODES = tuple(CHECKLIST)

SEVERITY = {
    "low": ("Thấp", "Low"),
    "medium": ("Trung bình", "Medium"),
    "high": ("Cao", "High"),
    "critical": ("Nghiêm trọng", "Critical"),
}
ALERT_STATUS = {
    "new": ("Mới", "New"),
    "acknowledged": ("Đã tiếp nhận", "Acknowledged"),
    "in_progress": ("Đang xử lý", "In progress"),
    "resolved": ("Đã xử lý", "Resolved"),
    "false_positive": ("Cảnh báo nhầm", "False positive"),
}
INCIDENT_STATUS = {
    "new": ("Mới", "New"),
    "in_progress": ("Đang xử lý", "In progress"),
    "resolved": ("Đã xử lý", "Resolved"),
    "closed": ("Đã đóng", "Closed"),
}
FINDING_STATUS = {
    "open": ("Chưa khắc phục", "Open"),
    "remediated": ("Đã khắc phục", "Remediated"),
    "verified": ("Đã xác minh khắc phục", "Verified"),
}
REMEDIATION = {
    "on_time": ("Khắc phục đúng hạn", "Remediated on time"),
    "late": ("Khắc phục quá hạn", "Remediated late"),
    "overdue": ("Quá hạn, chưa khắc phục", "Overdue, not remediated"),
    "pending": ("Trong thời hạn khắc phục", "Within the remediation period"),
}
SELF_ASSESSMENT = {
    "received": ("Đã nhận", "Received"),
    "received_late": ("Nhận muộn", "Received late"),
    "pending": ("Chưa đến hạn", "Not yet due"),
    "overdue": ("Quá hạn, chưa nhận", "Overdue, not received"),
    "not_required": ("Không yêu cầu", "Not required"),
}
PLAN_KIND = {"periodic": ("Định kỳ", "Periodic"), "ad_hoc": ("Đột xuất", "Ad hoc")}
TEAM_ROLE = {
    "head": ("Trưởng đoàn", "Head of team"),
    "deputy": ("Phó Trưởng đoàn", "Deputy head"),
    "member": ("Thành viên", "Member"),
    "secretary": ("Thư ký", "Secretary"),
}
APPROVAL = {
    "not_proposed": ("Chưa đề xuất", "Not proposed"),
    "proposed": ("Đã đề xuất, chưa phê duyệt", "Proposed, not approved"),
    "approved": ("Đã phê duyệt", "Approved"),
}
GAP_KIND = {
    "source": ("Nguồn nhật ký", "Log source"),
    "system": ("Hệ thống", "System"),
    "endpoint": ("Máy tính", "Endpoint"),
}
GAP_REASON = {
    "silent": ("ngừng gửi", "silent"),
    "never_connected": ("chưa kết nối", "never connected"),
    "no anti-malware report": ("không có báo cáo phòng chống mã độc", "no anti-malware report"),
    "anti-malware report overdue": ("báo cáo phòng chống mã độc quá hạn", "anti-malware report overdue"),
}
UNIT_KIND = {
    "province": ("Tỉnh", "Province"),
    "department": ("Sở, ban, ngành", "Department"),
    "commune": ("UBND xã, phường, đặc khu", "Commune"),
    "service_centre": ("Trung tâm Phục vụ hành chính công", "Public service centre"),
    "other": ("Khác", "Other"),
}
COVERAGE_SCOPE = {
    "all_systems": ("HTTT được giám sát", "Systems monitored"),
    "important_systems": ("HTTT quan trọng được giám sát", "Important systems monitored"),
    "level3_and_above": ("HTTT cấp độ 3 trở lên được giám sát", "Level 3+ systems monitored"),
    "endpoints": ("Máy tính có phòng chống mã độc tập trung", "Computers with centralised anti-malware"),
}
ENDPOINT_KIND = {
    "workstation": ("Máy trạm", "Workstation"),
    "kiosk": ("Kiosk", "Kiosk"),
    "server": ("Máy chủ", "Server"),
}
REMINDER_KIND = {
    "finding_due": ("Sắp đến hạn khắc phục", "Remediation due soon"),
    "finding_overdue": ("Quá hạn khắc phục", "Remediation overdue"),
    "self_assessment_due": ("Sắp đến hạn báo cáo tự kiểm tra", "Self-assessment report due soon"),
    "self_assessment_overdue": ("Quá hạn báo cáo tự kiểm tra", "Self-assessment report overdue"),
}


def vi(table: dict[str, tuple[str, str]], key: str | None) -> str:
    if key is None:
        return "—"
    pair = table.get(key)
    return pair[0] if pair else key


def en(table: dict[str, tuple[str, str]], key: str | None) -> str:
    if key is None:
        return "—"
    pair = table.get(key)
    return pair[1] if pair else key


def gap_reason(reason: str, vietnamese: bool = True) -> str:
    """A coverage gap's reason (`yte-win: never_connected, ...`) with each state in words."""
    pick = vi if vietnamese else en
    parts = []
    for piece in reason.split(", "):
        key, _, state = piece.partition(": ")
        parts.append(f"{key}: {pick(GAP_REASON, state)}" if state else pick(GAP_REASON, piece))
    return ", ".join(parts)
