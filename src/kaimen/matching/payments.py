"""Matching payments to the open judgments they settle, even when the payer mistyped.

The journalist's lesson: a fine paid with one wrong digit in the court's account number must
still find its judgment. So no single field has to be exact. Each (payment, listing) pair that
shares at least one signal is scored in DuckDB over Arrow, all pairs at once:

| signal | weight |
|---|---|
| case number in the reference text: exact / one wrong, missing, extra or transposed character | 0.35 / 0.28 |
| amount equal to the amount owed / more than owed | 0.25 / 0.20 |
| payer is the listed person: same ID number / same name | 0.25 / 0.15 |
| paid on or after the judgment date | 0.05 |
| destination account equal / one edit / two edits from the court's account | 0.10 / 0.08 / 0.06 |

A payment's best listing is `matched` when its score is at least `AUTO_MATCH_AT` and nothing
holds it back; it goes to `review` when the score is at least `REVIEW_AT` (or it would have
matched but something holds it); below that it is `unmatched` (still kept, and still shown in
the review queue with its best candidate). What holds a match back for a person to confirm:

- `no_case_number`: the reference names no case within one edit (amount, payer and date alone
  cannot tell two judgments of the same person and amount apart);
- `amount_short` / `other_currency`: the payment does not pay the judgment in full;
- `payer_conflict`: both ID numbers are known and differ (someone paid another person's case);
- `payer_unknown`: neither the ID number nor the name agrees (a relative may pay, but a person
  confirms it);
- `paid_before_judgment`;
- `account_far`: the destination is more than two edits from the court's account, or unknown
  (money sent elsewhere did not reach the court);
- `ambiguous`: another listing scores within `AMBIGUITY_MARGIN`.

Case numbers are compared after normalisation: full-width characters to half-width (NFKC),
upper case, no spaces, no brackets of any kind ( ()（）〔〕[]【】 ...), no trailing 号, so
`（2025）京0105执1234号` and `2025 京0105 执 1234` are the same. Candidate case numbers are
taken from the reference by their shape (year, court, type, sequence); a pair is a candidate
when the two share a one-character deletion variant (so any single edit still joins) or when
amount, ID number or name agree exactly. A typo that breaks the shape (a letter in place of a
digit) is still found when another signal makes the pair a candidate and the shape survives
around it; otherwise the case number counts as absent.

Deterministic: ties between listings go to the smaller listing id.
"""

from __future__ import annotations

from collections.abc import Sequence

import duckdb
import pyarrow as pa
import pyarrow.compute as pc

from kaimen.input_files import text_array
from kaimen.matching.payment_records import (
    AmountAgreement,
    MatchEvidence,
    OpenJudgment,
    PayerAgreement,
    Payment,
    PaymentMatch,
    Verdict,
)
from kaimen.store.case_numbers import normalise_case_numbers

AUTO_MATCH_AT = 0.85
REVIEW_AT = 0.45
AMBIGUITY_MARGIN = 0.10
MAX_ACCOUNT_EDITS = 2

W_CASE_EXACT, W_CASE_NEAR = 0.35, 0.28
W_AMOUNT_EQUAL, W_AMOUNT_COVERS = 0.25, 0.20
W_PAYER_ID, W_PAYER_NAME = 0.25, 0.15
W_DATE = 0.05
W_ACCOUNT = (0.10, 0.08, 0.06)  # by edit distance 0, 1, 2

# A case number's shape: year (three digits if one is lost), court abbreviation, optional court
# code and case type, sequence number; e.g. 2025京0105执1234.
CASE_SHAPE = r"[0-9]{3,4}[^0-9]{1,8}(?:[0-9]{1,6}[^0-9]{1,6})?[0-9]{1,8}"


def normalise_accounts(values: pa.Array) -> pa.Array:
    """Account numbers as their letters and digits only (spaces and dashes are layout)."""
    text = pc.utf8_upper(pc.utf8_normalize(values, form="NFKC"))
    return pc.replace_substring_regex(text, r"[^0-9A-Z]", "")


def normalise_names(names: Sequence[str]) -> list[str]:
    """Names in the form lookup keys are made of: half-width, no spaces or middle dots, folded
    case (Uyghur names are written with ·, Pinyin with or without spaces)."""
    text = pc.utf8_normalize(text_array(list(names)), form="NFKC")
    folded: list[str] = pc.replace_substring_regex(
        pc.utf8_lower(text), r"[\s·・.\-]", ""
    ).to_pylist()
    return folded


def _payments_table(payments: Sequence[Payment]) -> pa.Table:
    return pa.table(
        {
            "payment_key": text_array([p.payment_key for p in payments]),
            "ref_norm": normalise_case_numbers(text_array([p.reference for p in payments])),
            "account_norm": normalise_accounts(
                text_array([p.destination_account for p in payments])
            ),
            "amount": text_array([str(p.amount) for p in payments]),
            "currency": text_array([p.currency for p in payments]),
            "paid_on": text_array([p.paid_on.isoformat() for p in payments]),
            "id_key": text_array([p.payer_id_key for p in payments]),
            "name_key": text_array([p.payer_name_key for p in payments]),
        }
    )


def _judgments_table(judgments: Sequence[OpenJudgment]) -> pa.Table:
    cases = normalise_case_numbers(text_array([j.case_number for j in judgments]))
    return pa.table(
        {
            "listing_id": text_array([j.listing_id for j in judgments]),
            "case_norm": pc.replace_substring_regex(cases, "号$", ""),
            "account_norm": normalise_accounts(
                text_array([j.collection_account for j in judgments])
            ),
            "amount": text_array([str(j.amount_owed) for j in judgments]),
            "currency": text_array([j.currency for j in judgments]),
            "judgment_date": text_array([j.judgment_date.isoformat() for j in judgments]),
            "id_key": text_array([j.person_id_key for j in judgments]),
            "name_key": text_array([j.person_name_key for j in judgments]),
        }
    )


_MACROS = (
    # Each string with one character deleted (and itself): two strings within one edit,
    # transpositions included, always share one of these, so an equi-join finds them.
    "create macro deletions(s) as list_transform(range(0, length(s) + 1),"
    " lambda i: case when i = 0 then s else substring(s, 1, i - 1) || substring(s, i + 1) end)",
    # Damerau-Levenshtein distance when it is at most k, else NULL. Damerau costs eight times
    # Levenshtein, which bounds it: d <= lev <= 2d, so it is only needed in between.
    "create macro near(a, b, k) as case when levenshtein(a, b) <= 1 then levenshtein(a, b)"
    " when levenshtein(a, b) <= 2 * k then nullif(least(damerau_levenshtein(a, b), k + 1), k + 1)"
    " end",
)

_SQL = f"""
with
p as (
    select payment_key, ref_norm, nullif(account_norm, '') as account_norm,
           cast(amount as decimal(20, 4)) as amount, currency, cast(paid_on as date) as paid_on,
           id_key, name_key
    from payments_in),
j as (
    select listing_id, case_norm, nullif(account_norm, '') as account_norm,
           cast(amount as decimal(20, 4)) as amount, currency,
           cast(judgment_date as date) as judgment_date, id_key, name_key
    from judgments_in),
tokens as (
    select distinct payment_key, token from (
        select payment_key, unnest(regexp_extract_all(ref_norm, '{CASE_SHAPE}')) as token from p)),
token_variants as (
    select distinct payment_key, token, unnest(deletions(token)) as variant from tokens),
case_variants as (
    select distinct listing_id, unnest(deletions(case_norm)) as variant from j),
case_hits as (
    -- Sharing a deletion variant finds every pair within one edit (and some at two, which
    -- the distance then drops).
    select payment_key, listing_id, min(distance) as distance from (
        select payment_key, listing_id,
            case when lev <= 1 then lev
                 when lev = 2 and damerau_levenshtein(token, case_norm) = 1 then 1
            end as distance
        from (
            select distinct t.payment_key, c.listing_id, t.token, j.case_norm,
                levenshtein(t.token, j.case_norm) as lev
            from token_variants t join case_variants c using (variant) join j using (listing_id)))
    group by all
    having distance is not null),
pairs as (
    select payment_key, listing_id from case_hits
    union
    select p.payment_key, j.listing_id from p join j using (amount, currency)
    union
    select p.payment_key, j.listing_id from p join j using (id_key)
    union
    select p.payment_key, j.listing_id from p join j using (name_key)),
accounts as (
    -- Few distinct accounts (a court collects into one or two): measure each combination once.
    select a, b, near(a, b, {MAX_ACCOUNT_EDITS}) as distance from (
        select distinct p.account_norm as a, j.account_norm as b
        from pairs join p using (payment_key) join j using (listing_id))),
signals as (
    select pr.payment_key, pr.listing_id,
        cd.distance as case_distance,
        case when p.currency <> j.currency then 'other_currency'
             when p.amount = j.amount then 'equal'
             when p.amount > j.amount then 'covers'
             else 'short' end as amount_agreement,
        case when p.id_key = j.id_key then 'id_number'
             when p.id_key <> j.id_key then 'conflict'
             when p.name_key = j.name_key then 'name'
             else 'unknown' end as payer_agreement,
        p.paid_on >= j.judgment_date as paid_after_judgment,
        ac.distance as account_distance
    from pairs pr
    join p using (payment_key) join j using (listing_id)
    left join case_hits cd using (payment_key, listing_id)
    left join accounts ac on ac.a = p.account_norm and ac.b = j.account_norm),
scored as (
    select *,
        round(
          case case_distance when 0 then {W_CASE_EXACT} when 1 then {W_CASE_NEAR} else 0 end
        + case amount_agreement when 'equal' then {W_AMOUNT_EQUAL}
                                when 'covers' then {W_AMOUNT_COVERS} else 0 end
        + case payer_agreement when 'id_number' then {W_PAYER_ID}
                               when 'name' then {W_PAYER_NAME} else 0 end
        + case when paid_after_judgment then {W_DATE} else 0 end
        + case account_distance when 0 then {W_ACCOUNT[0]} when 1 then {W_ACCOUNT[1]}
                                when 2 then {W_ACCOUNT[2]} else 0 end, 4) as score
    from signals),
ranked as (
    select *,
        row_number() over (partition by payment_key order by score desc, listing_id) as place,
        lead(score) over (partition by payment_key order by score desc, listing_id) as runner_up
    from scored)
select r.payment_key, r.listing_id, r.score, r.runner_up, r.case_distance,
       r.amount_agreement, r.payer_agreement, r.paid_after_judgment, r.account_distance
from ranked r where place = 1
order by payment_key
"""


def _holds(
    case_distance: int | None,
    amount: AmountAgreement,
    payer: PayerAgreement,
    paid_after_judgment: bool,
    account_distance: int | None,
    score: float,
    runner_up: float | None,
) -> tuple[str, ...]:
    checks = (
        ("no_case_number", case_distance is None),
        ("amount_short", amount is AmountAgreement.SHORT),
        ("other_currency", amount is AmountAgreement.OTHER_CURRENCY),
        ("payer_conflict", payer is PayerAgreement.CONFLICT),
        ("payer_unknown", payer is PayerAgreement.UNKNOWN),
        ("paid_before_judgment", not paid_after_judgment),
        ("account_far", account_distance is None or account_distance > MAX_ACCOUNT_EDITS),
        ("ambiguous", runner_up is not None and score - runner_up < AMBIGUITY_MARGIN),
    )
    return tuple(name for name, held in checks if held)


def _verdict(score: float, holds: tuple[str, ...]) -> Verdict:
    if score >= AUTO_MATCH_AT and not holds:
        return Verdict.MATCHED
    if score >= REVIEW_AT:
        return Verdict.REVIEW
    return Verdict.UNMATCHED


def match_payments(
    payments: Sequence[Payment], judgments: Sequence[OpenJudgment]
) -> list[PaymentMatch]:
    """Each payment's verdict and best candidate listing, in the order of `payments`."""
    keys = [p.payment_key for p in payments]
    if len(set(keys)) != len(keys):
        raise ValueError("payment keys must be unique")
    best: dict[str, PaymentMatch] = {}
    if payments and judgments:
        connection = duckdb.connect()
        try:
            for macro in _MACROS:
                connection.execute(macro)
            connection.register("payments_in", _payments_table(payments))
            connection.register("judgments_in", _judgments_table(judgments))
            rows = connection.execute(_SQL).fetchall()
        finally:
            connection.close()
        for key, listing, score, runner_up, case_d, amount, payer, after, account_d in rows:
            evidence_amount = AmountAgreement(amount)
            evidence_payer = PayerAgreement(payer)
            holds = _holds(
                case_d, evidence_amount, evidence_payer, bool(after), account_d, score, runner_up
            )
            best[key] = PaymentMatch(
                payment_key=key,
                verdict=_verdict(score, holds),
                listing_id=listing,
                score=float(score),
                evidence=MatchEvidence(
                    case_number_distance=case_d,
                    amount=evidence_amount,
                    payer=evidence_payer,
                    paid_after_judgment=bool(after),
                    account_distance=account_d,
                    holds=holds,
                ),
                runner_up_score=None if runner_up is None else float(runner_up),
            )
    return [
        best.get(key) or PaymentMatch(key, Verdict.UNMATCHED, None, 0.0, None, None) for key in keys
    ]
