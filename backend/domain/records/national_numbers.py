"""National student numbers (全国学籍号): their three formats, built and parsed with no I/O (NUM-7).

Every number is 19 characters: one letter, then 18 characters.

- ``G`` (official, NUM-1): ``G`` + the holder's 18-character resident ID number.
- ``J`` (official without an ID number, NUM-2): ``J`` + 6-digit area code + 8-digit birth date ``YYYYMMDD``
  + 3-digit sequence + 1 check character. The documents do not say how the check character is computed;
  we reuse the resident-ID algorithm (ISO 7064 MOD 11-2, ``0``–``9`` or ``X``) over the 17 digits after the
  ``J``, so a J number looks and checks like an ID number.
- ``L`` (temporary, NUM-3): ``L`` + 6-digit area code + 8-digit birth date + 4 random digits.

Area codes must be plausible division codes (six digits, a provincial-level prefix; see ``id_numbers``).
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from datetime import date

from backend.domain.errors import ValidationError
from backend.domain.records.id_numbers import (
    InvalidIdNumberError,
    check_digit,
    is_digits,
    is_plausible_region,
    normalize,
    parse_compact_date,
    parse_resident_id,
)

LENGTH = 19


class NationalNumberKind(enum.StrEnum):
    G = "G"
    J = "J"
    L = "L"


class InvalidNationalNumberError(ValidationError):
    code = "INVALID_NATIONAL_NUMBER"
    message = "学籍号无效"


@dataclass(frozen=True)
class NationalNumber:
    """A checked national number and its parts.

    ``id_number`` is set for G numbers only; ``serial`` is the J sequence (3 digits) or the L random
    part (4 digits), and for a G number the ID's 3-digit order code.
    """

    number: str
    kind: NationalNumberKind
    area_code: str
    birth_date: date
    serial: str
    id_number: str | None = None


def g_number(id_number18: str) -> str:
    """The G number of a resident ID number (NUM-7).

    Raises:
        InvalidIdNumberError: the ID number is malformed or its check character is wrong.
    """
    return NationalNumberKind.G + parse_resident_id(id_number18).number


def j_number(area_code6: str, birth_date: date, seq3: int) -> str:
    """The J number for a student without an ID number (NUM-7); ``seq3`` is 0–999.

    Raises:
        InvalidNationalNumberError: implausible area code or sequence out of range.
    """
    _check_area(area_code6)
    if not 0 <= seq3 <= 999:
        raise InvalidNationalNumberError("学籍号顺序码须在000至999之间", field="nationalNumber")
    body = f"{area_code6}{birth_date:%Y%m%d}{seq3:03d}"
    return NationalNumberKind.J + body + check_digit(body)


def l_number(area_code6: str, birth_date: date, random4: str) -> str:
    """The temporary L number (NUM-7); ``random4`` is four random digits chosen by the caller.

    Raises:
        InvalidNationalNumberError: implausible area code or ``random4`` not four digits.
    """
    _check_area(area_code6)
    if len(random4) != 4 or not is_digits(random4):
        raise InvalidNationalNumberError("临时学籍号末4位须为数字", field="nationalNumber")
    return f"{NationalNumberKind.L}{area_code6}{birth_date:%Y%m%d}{random4}"


def parse_national_number(number: str, *, field: str | None = "nationalNumber") -> NationalNumber:
    """Check a national number of any kind and split it into its parts (NUM-7).

    Input is normalised like ID numbers (full-width to ASCII, spaces trimmed, upper-cased).

    Raises:
        InvalidNationalNumberError: with a Chinese message naming the first problem found.
    """
    value = normalize(number)
    if len(value) != LENGTH:
        raise InvalidNationalNumberError(f"学籍号应为19位，实际为{len(value)}位", field=field)
    letter, body = value[0], value[1:]
    if letter == NationalNumberKind.G:
        try:
            resident = parse_resident_id(body, field=field)
        except InvalidIdNumberError as exc:
            raise InvalidNationalNumberError(f"G字头学籍号：{exc.message}", field=field) from exc
        return NationalNumber(
            number=value,
            kind=NationalNumberKind.G,
            area_code=resident.region_code,
            birth_date=resident.birth_date,
            serial=body[14:17],
            id_number=resident.number,
        )
    if letter not in (NationalNumberKind.J, NationalNumberKind.L):
        raise InvalidNationalNumberError("学籍号须以G、J或L开头", field=field)
    kind = NationalNumberKind(letter)
    digits = body if kind is NationalNumberKind.L else body[:17]
    if not is_digits(digits):
        raise InvalidNationalNumberError(f"{kind}字头学籍号除字母外须为数字", field=field)
    if not is_plausible_region(body[:6]):
        raise InvalidNationalNumberError(f"学籍号中的地区码“{body[:6]}”不是有效的行政区划代码", field=field)
    birth = parse_compact_date(body[6:14])
    if birth is None:
        raise InvalidNationalNumberError(f"学籍号中的出生日期“{body[6:14]}”不是有效日期", field=field)
    if kind is NationalNumberKind.J and check_digit(body[:17]) != body[17]:
        raise InvalidNationalNumberError("J字头学籍号校验位不正确，请核对号码", field=field)
    serial = body[14:17] if kind is NationalNumberKind.J else body[14:18]
    return NationalNumber(number=value, kind=kind, area_code=body[:6], birth_date=birth, serial=serial)


def _check_area(area_code6: str) -> None:
    if not is_plausible_region(area_code6):
        raise InvalidNationalNumberError(
            f"地区码“{area_code6}”不是有效的行政区划代码", field="nationalNumber"
        )
