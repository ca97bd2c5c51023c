"""Configuration through GraphQL: controlled fields per level, the province's windows and switches."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select

from backend.domain.settings import SETTINGS
from backend.models import AuditEntry, ControlledField, StudentRecord, Unit
from tests.api import COUNTY_ADMIN, COUNTY_LEADER, PROVINCE_ADMIN, SCHOOL_REGISTRAR, Api

CITY_ADMIN = "340100-admin"  # 合肥市, above 蜀山区
OTHER_COUNTY_ADMIN = "340102-admin"  # 瑶海区, a sibling of 蜀山区
SCHOOL_CODE = "2134010401"  # 合肥市蜀山区琥珀小学, below 蜀山区

FIELD = "fragment F on ControlledField { fieldKey label source removable declaredBy { id name kind } }"
LIST = (
    FIELD
    + """
query($u: ID) {
  controlledFields(unitId: $u) {
    unit { id name } fields { ...F } effectiveKeys canManage declarableFields { key label }
  }
}
"""
)
ADD = (
    FIELD
    + """
mutation($k: String!) {
  addControlledField(fieldKey: $k) { errors { code message field } controlledField { ...F } }
}
"""
)
REMOVE = (
    FIELD
    + """
mutation($k: String!) {
  removeControlledField(fieldKey: $k) { errors { code message field } controlledField { ...F } }
}
"""
)
UPDATE = """
mutation($r: ID!, $v: Int!, $values: JSON!) {
  updateStudentRecord(recordId: $r, values: $values, expectedVersion: $v) {
    errors { code field } applied needsApproval
  }
}
"""
SETTINGS_QUERY = """
query($p: ID) {
  provinceSettings(provinceId: $p) { province { id name kind } settings { key label value defaultValue isDefault } }
}
"""
SET = """
mutation($p: ID!, $k: String!, $v: JSON) {
  setProvinceSetting(provinceId: $p, key: $k, value: $v) {
    errors { code message field } setting { key label value defaultValue isDefault }
  }
}
"""


async def _unit(api: Api, code: str) -> Unit:
    async with api.runtime.db.read_session() as session:
        unit = await session.scalar(select(Unit).where(Unit.code == code))
        assert unit is not None
        session.expunge(unit)
        return unit


async def _a_student(api: Api) -> StudentRecord:
    school = await _unit(api, SCHOOL_CODE)
    async with api.runtime.db.read_session() as session:
        record = await session.scalar(
            select(StudentRecord).where(StudentRecord.school_id == school.id).order_by(StudentRecord.id)
        )
        assert record is not None
        session.expunge(record)
        return record


async def _audit(api: Api, operation: str) -> list[AuditEntry]:
    async with api.runtime.db.read_session() as session:
        return list(await session.scalars(select(AuditEntry).where(AuditEntry.operation == operation)))


def _entries(body: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {entry["fieldKey"]: entry for entry in body["data"]["controlledFields"]["fields"]}


# --- controlled fields -----------------------------------------------------------------------------


async def test_a_countys_field_holds_a_schools_update_for_approval(api: Api) -> None:
    # RULES: CHG-1, CHG-2, CHG-3, SEC-7
    county = await _unit(api, "340104")
    record = await _a_student(api)
    registrar = await api.login(SCHOOL_REGISTRAR)
    direct = await api.post(
        UPDATE,
        {"r": str(record.id), "v": record.version, "values": {"phone": "13800000001"}},
        token=registrar,
    )
    assert direct["data"]["updateStudentRecord"]["applied"] == {"phone": "13800000001"}

    # Given the county declares the phone number controlled for its level
    admin = await api.login(COUNTY_ADMIN)
    added = await api.post(ADD, {"k": "phone"}, token=admin)

    payload = added["data"]["addControlledField"]
    assert payload["errors"] == []
    assert payload["controlledField"] == {
        "fieldKey": "phone",
        "label": "联系电话",
        "source": "OWN",
        "removable": True,
        "declaredBy": {"id": str(county.id), "name": county.name, "kind": "COUNTY"},
    }
    # When the school changes it after submission, then it comes back for approval, unapplied
    held = await api.post(
        UPDATE,
        {"r": str(record.id), "v": record.version + 1, "values": {"phone": "13800000002"}},
        token=registrar,
    )
    assert held["data"]["updateStudentRecord"] == {
        "errors": [],
        "applied": {},
        "needsApproval": {"phone": "13800000002"},
    }
    # The school sees which of its fields are controlled, and by whom
    seen = await api.post(LIST, {}, token=registrar)
    assert "phone" in seen["data"]["controlledFields"]["effectiveKeys"]
    phone = _entries(seen)["phone"]
    assert (phone["source"], phone["removable"], phone["declaredBy"]["name"]) == (
        "INHERITED",
        False,
        county.name,
    )
    # The county's leader finds the declaration in the audit log
    leader = await api.login(COUNTY_LEADER)
    log = await api.post(
        '{ auditLog(filter: {operation: "controlled_field.added"}) { nodes { operation targetId after } } }',
        token=leader,
    )
    assert log["data"]["auditLog"]["nodes"] == [
        {"operation": "controlled_field.added", "targetId": str(county.id), "after": {"fieldKey": "phone"}}
    ]


async def test_a_citys_field_is_seen_but_not_removable_by_the_county(api: Api) -> None:
    # RULES: CHG-1
    city = await _unit(api, "340100")
    added = await api.post(ADD, {"k": "householdType"}, token=await api.login(CITY_ADMIN))
    assert added["data"]["addControlledField"]["errors"] == []
    county_admin = await api.login(COUNTY_ADMIN)

    seen = await api.post(LIST, {}, token=county_admin)
    removed = await api.post(REMOVE, {"k": "householdType"}, token=county_admin)

    entry = _entries(seen)["householdType"]
    assert (entry["source"], entry["removable"], entry["declaredBy"]["id"]) == (
        "INHERITED",
        False,
        str(city.id),
    )
    assert seen["data"]["controlledFields"]["canManage"] is True
    assert "householdType" not in {f["key"] for f in seen["data"]["controlledFields"]["declarableFields"]}
    payload = removed["data"]["removeControlledField"]
    assert [(e["code"], e["field"]) for e in payload["errors"]] == [("INHERITED_FIELD", "fieldKey")]
    assert city.name in payload["errors"][0]["message"]
    assert payload["controlledField"] is None
    async with api.runtime.db.read_session() as session:
        assert (await session.scalars(select(ControlledField.unit_id))).all() == [city.id]
    assert await _audit(api, "controlled_field.removed") == []


async def test_the_county_removes_its_own_field(api: Api) -> None:
    # RULES: CHG-1, SEC-7
    admin = await api.login(COUNTY_ADMIN)
    await api.post(ADD, {"k": "phone"}, token=admin)

    removed = await api.post(REMOVE, {"k": "phone"}, token=admin)

    payload = removed["data"]["removeControlledField"]
    assert payload["errors"] == []
    assert payload["controlledField"]["fieldKey"] == "phone"
    after = await api.post(LIST, {}, token=admin)
    assert _entries(after).keys() == {"name", "gender", "birthDate", "idType", "idNumber", "photo"}
    assert len(await _audit(api, "controlled_field.removed")) == 1


async def test_unknown_and_key_information_fields_are_typed_errors(api: Api) -> None:
    # RULES: CHG-1, SEC-6
    admin = await api.login(COUNTY_ADMIN)

    unknown = await api.post(ADD, {"k": "nickname"}, token=admin)
    key_information = await api.post(ADD, {"k": "idNumber"}, token=admin)

    errors = unknown["data"]["addControlledField"]["errors"]
    assert [(e["code"], e["field"]) for e in errors] == [("UNKNOWN_FIELD", "fieldKey")]
    assert "nickname" in errors[0]["message"]
    assert [e["code"] for e in key_information["data"]["addControlledField"]["errors"]] == [
        "ALWAYS_CONTROLLED"
    ]
    assert await _audit(api, "controlled_field.added") == []


async def test_out_of_jurisdiction_is_refused(api: Api) -> None:
    # RULES: ORG-2, ORG-3, CHG-1
    registrar = await api.login(SCHOOL_REGISTRAR)
    county_admin = await api.login(COUNTY_ADMIN)
    city, other_county = await _unit(api, "340100"), await _unit(api, "340102")

    by_registrar = await api.post(ADD, {"k": "phone"}, token=registrar)
    above = await api.post(LIST, {"u": str(city.id)}, token=county_admin)
    sibling = await api.post(LIST, {"u": str(other_county.id)}, token=county_admin)

    assert [e["code"] for e in by_registrar["data"]["addControlledField"]["errors"]] == ["FORBIDDEN"]
    for body in (above, sibling):
        assert body["data"] is None
        assert [(e["extensions"]["code"], e["extensions"]["field"]) for e in body["errors"]] == [
            ("NOT_FOUND", "unitId")
        ]
    # The other county's administrator declares for its own county only: 蜀山区's school is unaffected.
    await api.post(ADD, {"k": "phone"}, token=await api.login(OTHER_COUNTY_ADMIN))
    school_view = await api.post(LIST, {}, token=registrar)
    assert "phone" not in school_view["data"]["controlledFields"]["effectiveKeys"]


# --- province settings -----------------------------------------------------------------------------


async def test_a_school_reads_its_provinces_settings_with_defaults(api: Api) -> None:
    # RULES: CFG-2
    province = await _unit(api, "340000")

    body = await api.post(SETTINGS_QUERY, {}, token=await api.login(SCHOOL_REGISTRAR))

    view = body["data"]["provinceSettings"]
    assert view["province"] == {"id": str(province.id), "name": province.name, "kind": "PROVINCE"}
    assert [s["key"] for s in view["settings"]] == list(SETTINGS)
    for setting in view["settings"]:
        spec = SETTINGS[setting["key"]]
        assert setting == {
            "key": spec.key,
            "label": spec.label_zh,
            "value": spec.default,
            "defaultValue": spec.default,
            "isDefault": True,
        }


async def test_the_province_administrator_sets_a_window_the_school_then_sees(api: Api) -> None:
    # RULES: CFG-2, SEC-7
    province = await _unit(api, "340000")
    admin = await api.login(PROVINCE_ADMIN)
    window = [{"from": "08-25", "to": "09-30"}]

    changed = await api.post(
        SET, {"p": str(province.id), "k": "window.primary_new", "v": window}, token=admin
    )

    assert changed["data"]["setProvinceSetting"] == {
        "errors": [],
        "setting": {
            "key": "window.primary_new",
            "label": "小学新生注册业务时间",
            "value": window,
            "defaultValue": [{"from": "09-01", "to": "09-30"}],
            "isDefault": False,
        },
    }
    seen = await api.post(SETTINGS_QUERY, {"p": str(province.id)}, token=await api.login(SCHOOL_REGISTRAR))
    by_key = {s["key"]: s for s in seen["data"]["provinceSettings"]["settings"]}
    assert (by_key["window.primary_new"]["value"], by_key["window.primary_new"]["isDefault"]) == (
        window,
        False,
    )
    assert by_key["window.in_school"]["isDefault"] is True

    reset = await api.post(SET, {"p": str(province.id), "k": "window.primary_new", "v": None}, token=admin)
    assert reset["data"]["setProvinceSetting"]["setting"]["isDefault"] is True
    assert len(await _audit(api, "province_setting.set")) == 2


async def test_province_settings_refusals(api: Api) -> None:
    # RULES: ORG-2, CFG-2
    province, city = await _unit(api, "340000"), await _unit(api, "340100")
    admin = await api.login(PROVINCE_ADMIN)

    by_county = await api.post(
        SET,
        {"p": str(province.id), "k": "switch.primary_new_enabled", "v": False},
        token=await api.login(COUNTY_ADMIN),
    )
    not_a_province = await api.post(
        SET, {"p": str(city.id), "k": "switch.primary_new_enabled", "v": False}, token=admin
    )
    bad_value = await api.post(
        SET, {"p": str(province.id), "k": "switch.primary_new_enabled", "v": "yes"}, token=admin
    )
    unknown = await api.post(SET, {"p": str(province.id), "k": "window.nonsense", "v": []}, token=admin)
    read_city = await api.post(SETTINGS_QUERY, {"p": str(city.id)}, token=admin)

    def codes(body: dict[str, Any]) -> list[tuple[str, str | None]]:
        return [(e["code"], e["field"]) for e in body["data"]["setProvinceSetting"]["errors"]]

    assert codes(by_county) == [("FORBIDDEN", None)]
    assert codes(not_a_province) == [("NOT_FOUND", "provinceId")]
    assert codes(bad_value) == [("INVALID_INPUT", "value")]
    assert codes(unknown) == [("UNKNOWN_SETTING", "key")]
    assert [e["extensions"]["code"] for e in read_city["errors"]] == ["NOT_FOUND"]
    assert await _audit(api, "province_setting.set") == []
