"""An offline backlog in one request: each item is checked, judged and stored on its own (a
bad item is rejected alone), in the order the items were recorded."""

import uuid
from typing import Any

from pydantic import ValidationError

from app.core.deps import Services
from app.core.domain_errors import DomainError
from app.core.errors import render, validation_issues
from app.core.security import Principal
from app.core.types import storable
from app.procedures.service import load_procedure_ref
from app.reports.schemas import BatchItemError, BatchItemResult, ReportIn
from app.reports.service import submit_report


def _parse_item(raw: Any) -> ReportIn | BatchItemError:
    try:
        return ReportIn.model_validate(raw)
    except ValidationError as exc:
        return BatchItemError(
            status=422,
            detail="The report is not valid; see errors.",
            errors=validation_issues(list(exc.errors())),
        )


def _raw_client_id(raw: Any) -> str | None:
    """A rejected item's id as sent, when the response can carry it back (a NUL or a lone
    surrogate cannot be encoded: echoing one made the whole batch a 500)."""
    value = raw.get("client_report_id") if isinstance(raw, dict) else None
    if not isinstance(value, str) or len(value) > 64:
        return None
    try:
        return storable(value)
    except ValueError:
        return None


async def submit_batch(
    services: Services, caller: Principal, procedure_id: uuid.UUID, items: list[Any]
) -> list[BatchItemResult]:
    async with services.db.read() as session:
        await load_procedure_ref(session, caller, procedure_id)  # 404 for the whole batch
    parsed = [_parse_item(raw) for raw in items]
    results: list[BatchItemResult | None] = [None] * len(items)
    for index, item in enumerate(parsed):
        if isinstance(item, BatchItemError):
            results[index] = BatchItemResult(
                client_report_id=_raw_client_id(items[index]), status="rejected", error=item
            )
    # Rules must see the reports in the order they were recorded, not the order sent.
    valid = sorted(
        ((i, p) for i, p in enumerate(parsed) if isinstance(p, ReportIn)),
        key=lambda pair: pair[1].recorded_at,
    )
    for index, body in valid:
        client_id = str(body.client_report_id)
        try:
            outcome, result = await submit_report(services, caller, procedure_id, body)
        except DomainError as refusal:  # each item stands alone
            problem = render(refusal)
            error = BatchItemError(
                type=problem.type,
                status=problem.status,
                detail=problem.detail,
                errors=problem.errors,
            )
            results[index] = BatchItemResult(
                client_report_id=client_id, status="rejected", error=error
            )
            continue
        results[index] = BatchItemResult.model_validate(
            {"client_report_id": client_id, "status": outcome, **result}
        )
    return [r for r in results if r is not None]
