"""The identity check (身份比对) against the national population database: a port and a local stand-in.

NUM-1: a G number is issued only after the record's name and ID number were compared with the population
database; PRB-1: a number that does not exist, or whose registered name differs, makes a type-1 problem
record. The real comparison is an outside service behind ``IdentityVerifier``; ``LocalIdentityVerifier``
answers from a dictionary for tests, demos and installations without a link to the database.
"""

from __future__ import annotations

import csv
import enum
import functools
import re
import unicodedata
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

from backend.config import Settings
from backend.domain.records.id_numbers import InvalidIdNumberError, normalize, parse_resident_id


class IdentityAnswer(enum.StrEnum):
    MATCH = "MATCH"
    NO_SUCH_ID = "NO_SUCH_ID"
    NAME_MISMATCH = "NAME_MISMATCH"


IDENTITY_ANSWERS_ZH = {
    IdentityAnswer.MATCH: "身份比对通过",
    IdentityAnswer.NO_SUCH_ID: "身份证号不存在",
    IdentityAnswer.NAME_MISMATCH: "姓名和身份证号不匹配",
}


class IdentityVerifier(Protocol):
    async def verify(self, name: str, id_number: str) -> IdentityAnswer:
        """Compare a name and an 18-character resident ID number with the population database."""
        ...


_IGNORED_IN_NAMES = re.compile(r"[\s·•・.]")


def same_name(a: str, b: str) -> bool:
    """Names compare after NFKC, without spaces and middle dots (买买提·艾力 = 买买提艾力)."""

    def clean(name: str) -> str:
        return _IGNORED_IN_NAMES.sub("", unicodedata.normalize("NFKC", name))

    return clean(a) == clean(b)


@dataclass
class LocalIdentityVerifier:
    """Answers from ``population`` (ID number -> registered name) instead of the real database.

    A number that fails the structure check (GB 11643: form, province, birth date, check character) does
    not exist. A well-formed number not in ``population`` matches unless ``strict``, in which case it
    does not exist either.
    """

    population: Mapping[str, str] = field(default_factory=dict)
    strict: bool = False

    async def verify(self, name: str, id_number: str) -> IdentityAnswer:
        """Check the structure (``parse_resident_id``), then the registered name (NUM-1, PRB-1)."""
        try:
            number = parse_resident_id(id_number).number
        except InvalidIdNumberError:
            return IdentityAnswer.NO_SUCH_ID
        registered = self.population.get(number) or self.population.get(normalize(id_number))
        if registered is None:
            return IdentityAnswer.NO_SUCH_ID if self.strict else IdentityAnswer.MATCH
        return IdentityAnswer.MATCH if same_name(registered, name) else IdentityAnswer.NAME_MISMATCH


def identity_verifier(settings: Settings) -> IdentityVerifier:
    """The verifier this deployment uses (NUM-1).

    Until the national population service is connected: the local check, answering from the CSV named by
    ``XUEJI_IDENTITY_POPULATION`` (if any; re-read when the file changes) and, for numbers not in it,
    matching every well-formed resident ID unless ``XUEJI_IDENTITY_STRICT``.
    """
    population: Mapping[str, str] = {}
    if settings.identity_population:
        path = Path(settings.identity_population)
        population = _population(path, path.stat().st_mtime_ns)
    return LocalIdentityVerifier(population=population, strict=settings.identity_strict)


@functools.lru_cache(maxsize=4)
def _population(path: Path, _mtime: int) -> Mapping[str, str]:
    """``ID number,name`` rows of a UTF-8 CSV (a header row, if any, is skipped as it is no ID number)."""
    answers: dict[str, str] = {}
    with path.open(encoding="utf-8-sig", newline="") as handle:
        for row in csv.reader(handle):
            if len(row) < 2:
                continue
            try:
                number = parse_resident_id(row[0].strip()).number
            except InvalidIdNumberError:
                continue
            answers[number] = row[1].strip()
    return answers
