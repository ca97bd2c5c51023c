"""The vocabulary shared by models, services and the GraphQL schema (names from GLOSSARY.md)."""

from __future__ import annotations

import enum


class UnitKind(enum.StrEnum):
    MINISTRY = "MINISTRY"
    PROVINCE = "PROVINCE"
    CITY = "CITY"
    COUNTY = "COUNTY"
    SCHOOL = "SCHOOL"


class Stage(enum.StrEnum):
    PRESCHOOL = "PRESCHOOL"
    PRIMARY = "PRIMARY"
    JUNIOR = "JUNIOR"
    SENIOR = "SENIOR"
    VOCATIONAL = "VOCATIONAL"


class SchoolSystem(enum.StrEnum):
    """学制: how grades 1–9 split between primary and junior (TRF-8)."""

    SIX_THREE = "SIX_THREE"
    FIVE_FOUR = "FIVE_FOUR"


class Role(enum.StrEnum):
    """Record-system roles (ORG-2) and support-platform account types (IME-5)."""

    REGISTRAR = "REGISTRAR"
    LEADER = "LEADER"
    SYSTEM_ADMINISTRATOR = "SYSTEM_ADMINISTRATOR"
    SUPER_ADMINISTRATOR = "SUPER_ADMINISTRATOR"
    RECORD_SYSTEM_ADMINISTRATOR = "RECORD_SYSTEM_ADMINISTRATOR"
    ORDINARY_USER = "ORDINARY_USER"


class Gender(enum.StrEnum):
    MALE = "MALE"
    FEMALE = "FEMALE"


class IdType(enum.StrEnum):
    RESIDENT_ID = "RESIDENT_ID"
    PASSPORT = "PASSPORT"
    HK_MACAO_PERMIT = "HK_MACAO_PERMIT"
    TAIWAN_PERMIT = "TAIWAN_PERMIT"
    NONE = "NONE"


class RecordStatus(enum.StrEnum):
    IN_SCHOOL = "IN_SCHOOL"
    SUSPENDED = "SUSPENDED"
    GRADUATED = "GRADUATED"
    COMPLETED = "COMPLETED"
    DROPPED_OUT = "DROPPED_OUT"
    ABROAD = "ABROAD"
    WITHDRAWN = "WITHDRAWN"
    EXPELLED = "EXPELLED"
    DECEASED = "DECEASED"
    OTHER_LEAVE = "OTHER_LEAVE"
