"""`GET /v1/admin/fairness` (admin): the fairness report of a model, as `kaimen fairness`
computes it, answered as JSON and written nowhere."""

from __future__ import annotations

from typing import Annotated

from fastapi import Query

from kaimen.api import problems
from kaimen.api.deps import Admin, Store
from kaimen.api.json_bodies import api_router
from kaimen.domain.events import IDENTIFIER_PATTERN
from kaimen.domain.months import MONTH_PATTERN
from kaimen.scoring.fairness import FairnessReport, fairness_report

router = api_router()
# Group sizes past this would suppress every group of any population kaimen serves.
MAX_MIN_GROUP = 1_000_000


@router.get(
    "/v1/admin/fairness",
    response_model=FairnessReport,
    tags=["models"],
    responses=problems.documented(401, 403, 404, 409, 422),
    summary="AUC, approval and calibration by sex, age band and region (admin)",
)
def get_fairness(
    ws: Store,
    admin: Admin,
    model: Annotated[
        str | None,
        Query(
            max_length=64,
            pattern=rf"^{IDENTIFIER_PATTERN}$",
            description="Model version (default: the champion)",
        ),
    ] = None,
    month: Annotated[
        str | None,
        Query(
            pattern=rf"^{MONTH_PATTERN}$",
            description="YYYY-MM (default: the latest month whose outcomes are known)",
        ),
    ] = None,
    min_group: Annotated[
        int | None,
        Query(ge=1, le=MAX_MIN_GROUP, description="Smallest group reported (default 50)"),
    ] = None,
) -> FairnessReport:
    """Groups smaller than `min_group` are suppressed; the report's `method` says what each
    figure is. 404: no such model; 409: no month with known outcomes."""
    return fairness_report(
        ws.engine, ws.backend(), ws.lake_root, ws.vault, admin.actor, model, month, min_group
    )
