"""The audit chain's newest signed head, for anyone who holds a credential to keep a copy.

Any live credential may read it (the admin, a partner, a person), and no one without one. A
head holds no personal data, only how many audited actions there have been and when the last
was signed; the more parties keep copies, the less the operator can rewrite the chain's tail
unseen, and the people and partners it concerns are the ones with a reason to keep them.
Anonymous callers are left out: a running count of actions says how busy the bureau is, which
a scraper has no need to follow. Reading the head is not itself audited: it would move the
head it reads.
"""

from __future__ import annotations

import datetime as dt

from pydantic import Field

from kaimen.api import problems
from kaimen.api.deps import AnyCaller, Store
from kaimen.api.json_bodies import api_router
from kaimen.api.schemas import Rendered
from kaimen.operations.status import newest_audit_head

router = api_router()


class AuditHeadOut(Rendered):
    seq: int = Field(description="the sequence number of the chain's newest row it vouches for")
    row_hash: str = Field(description="that row's SHA-256 chain hash (hex)")
    signed_at: dt.datetime = Field(description="when the head was signed (UTC)")
    algorithm: str = Field(default="Ed25519")
    signature: str = Field(description="base64 Ed25519 signature over `signed_message`")
    public_key: str = Field(description="base64 of the 32-byte Ed25519 public key")
    signed_message: str = Field(
        description="the exact text signed: kaimen-audit-head:v1, seq, hash and time, one a line"
    )


@router.get(
    "/v1/audit/head",
    response_model=AuditHeadOut,
    tags=["operations"],
    responses=problems.documented(401, 404, s404="no head signed yet"),
    summary="The audit chain's newest signed head and the key that checks it (any caller)",
)
def get_audit_head(ws: Store, _caller: AnyCaller) -> AuditHeadOut:
    """Keep a copy: `kaimen audit verify --head FILE` on a file of such heads fails if the
    chain no longer holds any of them."""
    return AuditHeadOut.model_validate(newest_audit_head(ws.audit_heads))
