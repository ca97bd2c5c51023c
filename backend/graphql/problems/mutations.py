"""Handling problem records: evidence from the school, review by its department, arbitration."""

from __future__ import annotations

import strawberry
from strawberry.types import Info

from backend.domain.permissions import Operation
from backend.domain.problems import handling
from backend.graphql.edge import Failed, parse_id, write
from backend.graphql.errors import UserError
from backend.graphql.operations import performs
from backend.graphql.problems.types import ProblemRecordType
from backend.models import ProblemRecord


@strawberry.type
class ProblemPayload:
    errors: list[UserError]
    problems: list[ProblemRecordType] = strawberry.field(default_factory=list)


def _payload(result: ProblemRecord | list[ProblemRecord] | Failed) -> ProblemPayload:
    if isinstance(result, Failed):
        return ProblemPayload(errors=result.errors)
    rows = result if isinstance(result, list) else [result]
    return ProblemPayload(errors=[], problems=[ProblemRecordType.from_model(r) for r in rows])


@strawberry.type
class ProblemMutations:
    @strawberry.mutation(
        description="学校为问题学籍上传证明材料（佐证），提交主管部门核办",
        metadata=performs(Operation.MANAGE_RECORDS),
    )
    async def submit_problem_evidence(
        self, info: Info, problem_id: strawberry.ID, attachment_ids: list[strawberry.ID], note: str
    ) -> ProblemPayload:
        return _payload(
            await write(
                info,
                lambda uow, actor: handling.submit_evidence(
                    uow,
                    actor=actor,
                    problem_id=parse_id(problem_id, "problemId"),
                    attachment_ids=[parse_id(a, "attachmentIds") for a in attachment_ids],
                    note=note,
                ),
            )
        )

    @strawberry.mutation(
        description="主管部门核办学校提交的证明材料：通过或退回（退回须填写理由）",
        metadata=performs(Operation.HANDLE_PROBLEMS),
    )
    async def review_problem_evidence(
        self, info: Info, problem_id: strawberry.ID, accept: bool, comment: str = ""
    ) -> ProblemPayload:
        return _payload(
            await write(
                info,
                lambda uow, actor: handling.review_evidence(
                    uow,
                    actor=actor,
                    problem_id=parse_id(problem_id, "problemId"),
                    accept=accept,
                    comment=comment,
                ),
            )
        )

    @strawberry.mutation(
        description="共同上级仲裁有身份证号的重复学籍：只保留一个",
        metadata=performs(Operation.HANDLE_PROBLEMS),
    )
    async def arbitrate_problem(
        self, info: Info, problem_id: strawberry.ID, keep_record_id: strawberry.ID, comment: str
    ) -> ProblemPayload:
        return _payload(
            await write(
                info,
                lambda uow, actor: handling.arbitrate(
                    uow,
                    actor=actor,
                    problem_id=parse_id(problem_id, "problemId"),
                    keep_record_id=parse_id(keep_record_id, "keepRecordId"),
                    comment=comment,
                ),
            )
        )
