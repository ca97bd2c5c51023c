"""Resident ID numbers (居民身份证号码, GB 11643-1999), with no I/O.

An 18-character number is a 6-digit region code (行政区划码 where the ID was first issued), an 8-digit birth
date ``YYYYMMDD``, a 3-digit order code whose last digit is odd for men and even for women, and a check
character computed with ISO 7064 MOD 11-2 over the first 17 digits (``X`` stands for 10).

Region codes are not checked against a list: codes are retired and renumbered over the years, and an ID
keeps the code it was issued under. Only the province part (the first two digits) must be one of
``PROVINCE_CODES`` — the 34 provincial-level divisions: 11–15 North, 21–23 North-east, 31–37 East,
41–46 Central-south, 50–54 South-west, 61–65 North-west, 71 Taiwan, 81–82 Hong Kong and Macao.

Input is normalised before checking (NFKC, so full-width digits typed with a Chinese input method count,
surrounding spaces dropped, ``x`` upper-cased); the normalised number is what gets stored.
"""

from __future__ import annotations

import unicodedata
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date
from typing import Any

from backend.domain.errors import ValidationError
from backend.models.enums import Gender

WEIGHTS = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)
CHECK_CHARACTERS = "10X98765432"
PROVINCE_CODES = frozenset(
    {
        *(str(n) for n in range(11, 16)),
        *(str(n) for n in range(21, 24)),
        *(str(n) for n in range(31, 38)),
        *(str(n) for n in range(41, 47)),
        *(str(n) for n in range(50, 55)),
        *(str(n) for n in range(61, 66)),
        "71",
        "81",
        "82",
    }
)
# Nobody holding a resident ID was born before this; an earlier date is a typing error.
EARLIEST_BIRTH = date(1900, 1, 1)
LENGTH = 18
OLD_LENGTH = 15
_DIGITS = frozenset("0123456789")


class InvalidIdNumberError(ValidationError):
    code = "INVALID_ID_NUMBER"
    message = "身份证号码无效"


@dataclass(frozen=True)
class ResidentId:
    """A checked 18-character resident ID number and what it says about its holder."""

    number: str
    region_code: str
    birth_date: date
    gender: Gender


def normalize(number: str) -> str:
    """Full-width characters to ASCII, surrounding whitespace dropped, ``x`` upper-cased."""
    return unicodedata.normalize("NFKC", number).strip().upper()


def is_digits(text: str) -> bool:
    """Only ASCII digits (``str.isdigit`` also accepts other scripts' digits)."""
    return bool(text) and all(c in _DIGITS for c in text)


def is_plausible_region(code: str) -> bool:
    """Six ASCII digits starting with a provincial-level code (see the module docstring)."""
    return len(code) == 6 and is_digits(code) and code[:2] in PROVINCE_CODES


def parse_compact_date(digits: str) -> date | None:
    """``YYYYMMDD`` as a date, or ``None`` if it is not eight digits naming a real day."""
    if len(digits) != 8 or not is_digits(digits):
        return None
    try:
        return date(int(digits[:4]), int(digits[4:6]), int(digits[6:]))
    except ValueError:
        return None


def check_digit(first17: str) -> str:
    """The ISO 7064 MOD 11-2 check character for 17 digits.

    Raises:
        ValueError: ``first17`` is not 17 ASCII digits (callers validate user input first).
    """
    if len(first17) != LENGTH - 1 or not is_digits(first17):
        raise ValueError(f"expected 17 digits, got {first17!r}")
    total = sum(int(c) * w for c, w in zip(first17, WEIGHTS, strict=True))
    return CHECK_CHARACTERS[total % 11]


def parse_resident_id(number: str, *, field: str | None = "idNumber") -> ResidentId:
    """Check an 18-character number's form, province, birth date and check character.

    Everything ``validate_resident_id`` checks except "born in the future", for numbers already stored.

    Raises:
        InvalidIdNumberError: with a Chinese message naming the first problem found.
    """
    value = normalize(number)
    if not value:
        raise InvalidIdNumberError("身份证号码不能为空", field=field)
    if len(value) == OLD_LENGTH and is_digits(value):
        raise InvalidIdNumberError("15位旧身份证号码须先升级为18位", field=field)
    if len(value) != LENGTH:
        raise InvalidIdNumberError(f"身份证号码应为18位，实际为{len(value)}位", field=field)
    if not is_digits(value[:17]) or value[17] not in _DIGITS | {"X"}:
        raise InvalidIdNumberError("身份证号码前17位须为数字，最后一位须为数字或X", field=field)
    if value[:2] not in PROVINCE_CODES:
        raise InvalidIdNumberError(f"身份证号码前两位“{value[:2]}”不是有效的省级行政区划代码", field=field)
    birth = parse_compact_date(value[6:14])
    if birth is None:
        raise InvalidIdNumberError(f"身份证号码中的出生日期“{value[6:14]}”不是有效日期", field=field)
    if birth < EARLIEST_BIRTH:
        raise InvalidIdNumberError(f"身份证号码中的出生日期{birth.isoformat()}早于1900年", field=field)
    # The expected character is not revealed: when another digit was mistyped, quoting it would
    # invite "fixing" the last one instead.
    if check_digit(value[:17]) != value[17]:
        raise InvalidIdNumberError("身份证号码校验位不正确，请核对号码", field=field)
    gender = Gender.MALE if int(value[16]) % 2 == 1 else Gender.FEMALE
    return ResidentId(number=value, region_code=value[:6], birth_date=birth, gender=gender)


def validate_resident_id(number: str, *, today: date, field: str | None = "idNumber") -> ResidentId:
    """Check an 18-character resident ID number entered by a person.

    Args:
        number: as typed; full-width characters, spaces around it and a lower-case ``x`` are accepted.
        today: the local date (``local_today(clock)``); a birth date after it is refused.
        field: the input field named in the error.

    Raises:
        InvalidIdNumberError: wrong length or characters, implausible province, impossible or future
            birth date, or wrong check character.
    """
    resident = parse_resident_id(number, field=field)
    if resident.birth_date > today:
        raise InvalidIdNumberError(
            f"身份证号码中的出生日期{resident.birth_date.isoformat()}晚于今天", field=field
        )
    return resident


def upgrade_15_to_18(number15: str, *, field: str | None = "idNumber") -> str:
    """Turn a first-generation 15-digit number into its 18-character form.

    15-digit numbers carry a 2-digit year and were issued only to people born in the 1900s, so "19" goes
    before ``YYMMDD``; the check character is appended.

    Raises:
        InvalidIdNumberError: not 15 digits, implausible province, or an impossible birth date.
    """
    value = normalize(number15)
    if len(value) != OLD_LENGTH or not is_digits(value):
        raise InvalidIdNumberError("15位身份证号码须为15位数字", field=field)
    if value[:2] not in PROVINCE_CODES:
        raise InvalidIdNumberError(f"身份证号码前两位“{value[:2]}”不是有效的省级行政区划代码", field=field)
    if parse_compact_date("19" + value[6:12]) is None:
        raise InvalidIdNumberError(f"身份证号码中的出生日期“19{value[6:12]}”不是有效日期", field=field)
    first17 = value[:6] + "19" + value[6:]
    return first17 + check_digit(first17)


def mask_id_number(number: str | None) -> str | None:
    """Hide most of an ID number for display and exports (SEC-4); the length stays visible.

    A 15- or 18-character number (a resident ID) shows its first 6 and last 4 characters:
    ``340104********123X``. Anything else (passports, permits, typing errors) shows only its last 2
    characters, and one of 2 characters or fewer is hidden entirely. ``None`` stays ``None``.
    """
    if number is None:
        return None
    value = number.strip()
    if len(value) in (LENGTH, OLD_LENGTH):
        return value[:6] + "*" * (len(value) - 10) + value[-4:]
    if len(value) <= 2:
        return "*" * len(value)
    return "*" * (len(value) - 2) + value[-2:]


def mask_changes(changes: Mapping[str, Any]) -> dict[str, Any]:
    """A ``{field: [old, new]}`` change (history, change requests) with every ID number masked (SEC-4).

    The student's ``idNumber`` and each guardian's, inside the ``guardians`` lists.
    """
    shown = dict(changes)
    pair = shown.get("idNumber")
    if isinstance(pair, list):
        shown["idNumber"] = [mask_id_number(v) if isinstance(v, str) else v for v in pair]
    guardians = shown.get("guardians")
    if isinstance(guardians, list):
        shown["guardians"] = [
            [{**g, "idNumber": mask_id_number(g.get("idNumber"))} if isinstance(g, dict) else g for g in side]
            if isinstance(side, list)
            else side
            for side in guardians
        ]
    return shown


def make_resident_id(region: str, birth: date, sequence: int, gender: Gender) -> str:
    """Build a valid 18-character number, for demo data and tests.

    ``sequence`` counts the holders of one gender born on one day in one region, from 0: men get the odd
    order codes 001, 003, … 999 (``sequence`` 0–499), women the even ones 002, 004, … 998 (0–498).

    Raises:
        ValueError: the region is not a plausible 6-digit code, or ``sequence`` is out of range.
    """
    if not is_plausible_region(region):
        raise ValueError(f"not a plausible region code: {region!r}")
    order = 2 * sequence + (1 if gender is Gender.MALE else 2)
    if sequence < 0 or order > 999:
        raise ValueError(f"sequence out of range for {gender}: {sequence}")
    first17 = f"{region}{birth:%Y%m%d}{order:03d}"
    return first17 + check_digit(first17)
