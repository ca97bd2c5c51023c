"""The Chinese texts of every email and SMS, rendered from a notification's payload.

Templates pick the few payload values a person needs (which business, which step, the due date, the
decision) and never dump the payload: an email may travel through servers we do not control, so it says
what happened and asks the reader to sign in for the rest. Free text that reaches a template (an approver's
comment, an announcement title) is shortened and has anything shaped like an ID number (15 or 18 digits,
also inside a national number) replaced — no ID number is ever mailed or texted.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from backend.clock import local
from backend.domain.notifications.log import NotificationKind

SYSTEM_NAME = "学籍系统"
SIGN_IN_HINT = "请登录学籍系统查看和办理。"
FOOTER = "此邮件由学籍系统自动发送，请勿直接回复。如不想接收此类邮件，可在系统的“通知设置”中修改。"
ID_NUMBER = re.compile(r"(?<![0-9])(?:[0-9]{17}[0-9Xx]|[0-9]{15})(?![0-9A-Za-z])")
ID_MASK = "[证件号已隐去]"
FREE_TEXT_LIMIT = 100
DIGEST_ITEMS = 50

# The businesses' titles (their workflow definitions' ``title``), by workflow kind.
BUSINESS_TITLES = {
    "registration_review": "学籍注册审核",
    "change_request_review": "学籍信息变更审核",
    "status_change": "学籍异动审核",
    "transfer": "转学",
    "post_graduation_study": "毕业后跨省就学",
}
DECISIONS = {
    "APPROVED": "已通过",
    "REJECTED": "未通过",
    "WITHDRAWN": "已撤回",
    "CANCELLED": "已撤销",
}
KIND_LABELS: dict[str, str] = {
    NotificationKind.STEP_PENDING: "待办",
    NotificationKind.DECIDED: "审批结果",
    NotificationKind.DEADLINE_NEAR: "期限提醒",
    NotificationKind.STEP_OVERDUE: "逾期提醒",
    NotificationKind.LOGIN_REMINDER: "登录提醒",
    NotificationKind.ANNOUNCEMENT: "公告",
    NotificationKind.MESSAGE: "消息",
}


@dataclass(frozen=True)
class Rendered:
    """One message in both forms: an email (subject and body) and an SMS text."""

    subject: str
    body: str
    sms: str


@dataclass(frozen=True)
class DigestItem:
    kind: str
    payload: Mapping[str, Any]
    created_at: datetime


def scrub(text: object, limit: int = FREE_TEXT_LIMIT) -> str:
    """Free text fit for a message: one line, shortened, with ID numbers masked."""
    if not isinstance(text, str):
        return ""
    line = " ".join(ID_NUMBER.sub(ID_MASK, text).split())
    return line if len(line) <= limit else line[: limit - 1] + "…"


def _business(payload: Mapping[str, Any]) -> str:
    kind = payload.get("kind")
    return BUSINESS_TITLES.get(kind, "业务") if isinstance(kind, str) else "业务"


def _step(payload: Mapping[str, Any]) -> str:
    step = scrub(payload.get("step"), 40)
    return f"「{step}」" if step else ""


def _due(payload: Mapping[str, Any]) -> str:
    raw = payload.get("dueOn")
    if not isinstance(raw, str):
        return ""
    try:
        day = date.fromisoformat(raw)
    except ValueError:
        return ""
    return f"{day.year}年{day.month}月{day.day}日"


def _number(payload: Mapping[str, Any], key: str) -> int | None:
    """A small count from the payload, given as a number or as digits (``{"days": "7"}``)."""
    value = payload.get(key)
    if isinstance(value, str) and value.isdigit() and len(value) <= 6:
        return int(value)
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def summary(kind: str, payload: Mapping[str, Any]) -> str:
    """One line saying what happened: the subject of an email, a line of the digest, an SMS's core."""
    business = _business(payload)
    if kind == NotificationKind.STEP_PENDING:
        due = _due(payload)
        return f"{business}{_step(payload)}等待您办理" + (f"，请于{due}前办结" if due else "")
    if kind == NotificationKind.DECIDED:
        state = payload.get("state")
        decision = DECISIONS.get(state, "已办结") if isinstance(state, str) else "已办结"
        return f"您发起的{business}{decision}"
    if kind == NotificationKind.DEADLINE_NEAR:
        due = _due(payload)
        return f"{business}{_step(payload)}即将到期" + (f"（{due}）" if due else "")
    if kind == NotificationKind.STEP_OVERDUE:
        due = _due(payload)
        return f"{business}{_step(payload)}已逾期" + (f"（应于{due}前办结）" if due else "")
    if kind == NotificationKind.LOGIN_REMINDER:
        days = _number(payload, "days")
        since = f"已{days}天以上" if days else "近期"
        if payload.get("level") == "LEADER":
            count = _number(payload, "count") or 0
            where = "下级单位" if payload.get("scope") == "SUBORDINATE" else "本单位"
            return f"{where}有{count}个账号{since}未登录学籍系统"
        return f"您的账号{since}未登录学籍系统"
    if kind == NotificationKind.ANNOUNCEMENT:
        title = scrub(payload.get("title"), 60)
        return f"新公告：{title}" if title else "您有一条新公告"
    return "您有一条新消息"


def _details(kind: str, payload: Mapping[str, Any]) -> list[str]:
    """The body's lines after the summary (never the raw payload)."""
    if kind == NotificationKind.DECIDED:
        comment = scrub(payload.get("comment"))
        return [f"审批意见：{comment}"] if comment else []
    if kind == NotificationKind.LOGIN_REMINDER:
        if payload.get("level") == "LEADER":
            return ["请督促相关人员及时登录，办理待办业务。"]
        return ["学籍管理员和审核人员须每周至少登录一次，及时办理待办业务。"]
    return []


def _letter(display_name: str, lines: Sequence[str]) -> str:
    name = scrub(display_name, 40) or "用户"
    return "\n".join([f"{name}，您好：", "", *lines, "", FOOTER]) + "\n"


def render_notification(kind: str, payload: Mapping[str, Any], *, display_name: str) -> Rendered:
    """The email and SMS for one notification."""
    line = summary(kind, payload)
    label = KIND_LABELS.get(kind, "通知")
    return Rendered(
        subject=f"【{SYSTEM_NAME}】{label}：{line}"[:200],
        body=_letter(display_name, [line + "。", *_details(kind, payload), SIGN_IN_HINT]),
        sms=f"【{SYSTEM_NAME}】{line}，{SIGN_IN_HINT}",
    )


def render_credentials(*, display_name: str, username: str, password: str, reset: bool) -> Rendered:
    """An account's user name and initial password (IME-6); changed at first sign-in."""
    what = "您的账号密码已重置" if reset else "已为您开通学籍系统账号"
    return Rendered(
        subject=f"【{SYSTEM_NAME}】{what}",
        body=_letter(
            display_name,
            [
                f"{what}。",
                f"用户名：{username}",
                f"初始密码：{password}",
                "首次登录后须修改密码。请妥善保管，不要转告他人；如非本人申请，请联系本单位系统管理员。",
            ],
        ),
        sms=f"【{SYSTEM_NAME}】{what}。用户名：{username}，初始密码：{password}，首次登录须修改密码，请勿转告他人。",
    )


def render_digest(*, display_name: str, day: date, items: Sequence[DigestItem]) -> Rendered:
    """The daily digest: the day's notifications, oldest first, one line each."""
    lines = [f"{day.year}年{day.month}月{day.day}日，您共有{len(items)}条通知：", ""]
    for item in items[:DIGEST_ITEMS]:
        at = local(item.created_at).strftime("%H:%M")
        label = KIND_LABELS.get(item.kind, "通知")
        lines.append(f"{at} {label}：{summary(item.kind, item.payload)}")
    if len(items) > DIGEST_ITEMS:
        lines.append(f"……另有{len(items) - DIGEST_ITEMS}条")
    lines += ["", SIGN_IN_HINT]
    subject = f"【{SYSTEM_NAME}】每日通知摘要（{day.month}月{day.day}日，{len(items)}条）"
    return Rendered(subject=subject, body=_letter(display_name, lines), sms=subject)
