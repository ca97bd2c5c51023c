"""Message texts: Chinese, from the payload's few useful values, never a raw payload or an ID number."""

from __future__ import annotations

from datetime import date

import pytest

from backend.clock import shanghai
from backend.domain.notifications.log import NotificationKind
from backend.notifications.templates import (
    DigestItem,
    render_credentials,
    render_digest,
    render_notification,
    scrub,
)

ID_NUMBER = "11010519491231002X"


@pytest.mark.parametrize(
    ("kind", "payload", "subject"),
    [
        (
            NotificationKind.STEP_PENDING,
            {"kind": "registration_review", "step": "学校审核", "dueOn": "2026-12-01"},
            "【学籍系统】待办：学籍注册审核「学校审核」等待您办理，请于2026年12月1日前办结",
        ),
        (
            NotificationKind.DECIDED,
            {"kind": "transfer", "state": "APPROVED"},
            "【学籍系统】审批结果：您发起的转学已通过",
        ),
        (
            NotificationKind.DEADLINE_NEAR,
            {"kind": "change_request_review", "step": "县级审核", "dueOn": "2026-11-27"},
            "【学籍系统】期限提醒：学籍信息变更审核「县级审核」即将到期（2026年11月27日）",
        ),
        (
            NotificationKind.STEP_OVERDUE,
            {"kind": "post_graduation_study", "step": "调档"},
            "【学籍系统】逾期提醒：毕业后跨省就学「调档」已逾期",
        ),
        (
            NotificationKind.LOGIN_REMINDER,
            {"level": "LEADER", "days": "14", "count": 3, "scope": "SUBORDINATE"},
            "【学籍系统】登录提醒：下级单位有3个账号已14天以上未登录学籍系统",
        ),
        (NotificationKind.ANNOUNCEMENT, {"title": "关于做好2027年春季学期学籍注册的通知"}, None),
        (NotificationKind.MESSAGE, {"text": "私聊内容"}, "【学籍系统】消息：您有一条新消息"),
        ("SOMETHING_NEW", {"anything": 1}, "【学籍系统】通知：您有一条新消息"),
    ],
)
def test_every_kind_has_a_chinese_subject(kind: str, payload: dict[str, object], subject: str | None) -> None:
    rendered = render_notification(kind, payload, display_name="张三")

    if subject is not None:
        assert rendered.subject == subject
    assert rendered.body.startswith("张三，您好：\n")
    assert rendered.sms.startswith("【学籍系统】")
    assert "{" not in rendered.body  # no payload dump
    assert "私聊内容" not in rendered.body  # a message's text stays in the app


def test_an_id_number_never_reaches_a_mail_or_an_sms() -> None:
    payload = {
        "kind": "status_change",
        "state": "REJECTED",
        "comment": f"身份证号{ID_NUMBER}与户籍不符，学籍号G{ID_NUMBER}请核实；旧证123456780101123",
        "idNumber": ID_NUMBER,
    }

    rendered = render_notification(NotificationKind.DECIDED, payload, display_name="张三")
    announcement = render_notification(
        NotificationKind.ANNOUNCEMENT, {"title": f"{ID_NUMBER}的处理结果"}, display_name="李四"
    )

    for text in (rendered.subject, rendered.body, rendered.sms, announcement.subject, announcement.body):
        assert ID_NUMBER not in text
        assert "123456780101123" not in text
    assert "审批意见：身份证号[证件号已隐去]与户籍不符" in rendered.body


def test_free_text_is_shortened_to_one_line() -> None:
    assert scrub("第一行\n第二行   第三行") == "第一行 第二行 第三行"
    assert len(scrub("长" * 300)) == 100
    assert scrub(None) == scrub(42) == ""


def test_credentials_name_the_user_and_the_password() -> None:  # RULES: IME-6
    created = render_credentials(
        display_name="张三", username="zhang.san", password="Xj#2026-Safe", reset=False
    )
    reset = render_credentials(display_name="张三", username="zhang.san", password="Xj#2026-Safe", reset=True)

    assert created.subject == "【学籍系统】已为您开通学籍系统账号"
    assert reset.subject == "【学籍系统】您的账号密码已重置"
    for text in (created.body, created.sms, reset.body, reset.sms):
        assert "zhang.san" in text and "Xj#2026-Safe" in text and "首次登录" in text


def test_a_digest_lists_the_days_notifications_and_caps_the_list() -> None:
    items = [
        DigestItem("STEP_PENDING", {"kind": "transfer", "step": "转入学校审核"}, shanghai(2026, 11, 25, 9, n))
        for n in range(55)
    ]

    digest = render_digest(display_name="李四", day=date(2026, 11, 25), items=items)

    assert digest.subject == "【学籍系统】每日通知摘要（11月25日，55条）"
    assert "2026年11月25日，您共有55条通知：" in digest.body
    assert "09:00 待办：转学「转入学校审核」等待您办理" in digest.body
    assert digest.body.count("待办：") == 50
    assert "……另有5条" in digest.body
