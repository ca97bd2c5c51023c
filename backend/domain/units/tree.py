"""Materialised paths for the organisation tree (ORG-1, ORG-4), with no I/O.

A path lists ancestor ids from the root, each followed by a slash: the ministry is ``/1/``, a county
below it ``/1/4/9/12/``. Subtrees are path prefixes; the common superior of two units is the last id
their paths share.
"""

from __future__ import annotations

from backend.models.enums import UnitKind

# What may stand directly below each kind (ORG-1). Schools run directly by a province or city exist
# (省直/市直学校); branch schools sit below their central school.
ALLOWED_CHILDREN: dict[UnitKind, frozenset[UnitKind]] = {
    UnitKind.MINISTRY: frozenset({UnitKind.PROVINCE}),
    UnitKind.PROVINCE: frozenset({UnitKind.CITY, UnitKind.SCHOOL}),
    UnitKind.CITY: frozenset({UnitKind.COUNTY, UnitKind.SCHOOL}),
    UnitKind.COUNTY: frozenset({UnitKind.SCHOOL}),
    UnitKind.SCHOOL: frozenset({UnitKind.SCHOOL}),
}


def child_path(parent_path: str, child_id: int) -> str:
    return f"{parent_path}{child_id}/"


def root_path(unit_id: int) -> str:
    return f"/{unit_id}/"


def path_ids(path: str) -> list[int]:
    """The ids along a path, root first."""
    return [int(part) for part in path.strip("/").split("/") if part]


def depth_of(path: str) -> int:
    return len(path_ids(path)) - 1


def common_superior_id(path_a: str, path_b: str) -> int | None:
    """The nearest unit that is an ancestor of both (ORG-4); ``None`` if they share no root.

    When one unit lies inside the other's subtree the ancestor itself is the answer; for the same unit,
    its parent (a unit is not its own superior).
    """
    ids_a, ids_b = path_ids(path_a), path_ids(path_b)
    shared: list[int] = []
    for a, b in zip(ids_a, ids_b, strict=False):
        if a != b:
            break
        shared.append(a)
    if not shared:
        return None
    if len(shared) == len(ids_a) == len(ids_b):
        return shared[-2] if len(shared) > 1 else None
    return shared[-1]


def subtree_upper_bound(path: str) -> str:
    """The smallest string above every path that starts with ``path`` ('~' sorts after digits and '/')."""
    return path + "~"
