"""`POST /v1/events`: batches of events from the admin or from partners (scope `events`)."""

from __future__ import annotations

from kaimen.api import problems
from kaimen.api.deps import EventSender, Store
from kaimen.api.json_bodies import api_router
from kaimen.api.schemas import EventBatch, IngestResult, event_records
from kaimen.domain.errors import BatchRejected, RowError
from kaimen.domain.text import is_unicode
from kaimen.sharing.feedback import receive_events

router = api_router()


@router.post(
    "/v1/events",
    response_model=IngestResult,
    tags=["events"],
    responses=problems.documented(401, 403, 413, 422, 503),
    summary="Submit a batch of events (admin, or a partner key with scope events)",
)
def post_events(batch: EventBatch, ws: Store, caller: EventSender) -> IngestResult:
    """All or nothing: one bad event rejects the batch and the answer lists every problem.
    Replaying events already stored reports them as duplicates and changes nothing.
    A partner sends only under its own id as `source`, and only about people who gave
    it `feedback` consent."""
    records = event_records(batch)
    # JSON can carry lone surrogates; they cannot be stored as text, so they are refused
    # here with the line, like any other bad field.
    unreadable = [
        RowError(line, name, "is not valid Unicode text")
        for line, record in enumerate(records, start=1)
        for name, value in record.items()
        if isinstance(value, str) and not is_unicode(value)
    ]
    if unreadable:
        raise BatchRejected(unreadable, "request")
    report = receive_events(ws.engine, ws.lake_root, caller, records)
    return IngestResult(total=report.total, new=report.new, duplicate=report.duplicate)
