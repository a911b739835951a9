"""Payment matching: the journalist's mistyped account, payments without a case number, and
payments that must not settle someone else's judgment."""

from __future__ import annotations

import datetime as dt
from dataclasses import replace
from decimal import Decimal

import pytest

from kaimen.matching.payment_records import (
    AmountAgreement,
    OpenJudgment,
    PayerAgreement,
    Payment,
    Verdict,
)
from kaimen.matching.payments import (
    AUTO_MATCH_AT,
    REVIEW_AT,
    match_payments,
    normalise_names,
)

ACCOUNT = "6222 0210 0112 3456 789"
JOURNALIST = OpenJudgment(
    listing_id="L-1",
    case_number="（2025）京0105执1234号",
    court="北京市朝阳区人民法院",
    amount_owed=Decimal("5000.00"),
    currency="CNY",
    judgment_date=dt.date(2025, 3, 1),
    collection_account=ACCOUNT,
    person_id_key="id-journalist",
    person_name_key="name-journalist",
)
NEIGHBOUR = replace(
    JOURNALIST,
    listing_id="L-2",
    case_number="(2025)京0105执4321号",
    person_id_key="id-neighbour",
    person_name_key="name-neighbour",
)
FINE = Payment(
    payment_key="P-1",
    amount=Decimal("5000"),
    currency="CNY",
    paid_on=dt.date(2026, 9, 30),
    destination_account="6222021001123456780",  # last digit wrong
    reference="罚款 (2025)京0105执1234号",
    payer_id_key="id-journalist",
    payer_name_key="name-journalist",
)


def test_the_journalists_payment_with_a_mistyped_account_matches() -> None:
    [found] = match_payments([FINE], [JOURNALIST, NEIGHBOUR])
    assert found.verdict is Verdict.MATCHED
    assert found.listing_id == "L-1"
    assert found.score >= AUTO_MATCH_AT
    assert found.evidence is not None
    assert found.evidence.account_distance == 1
    assert found.evidence.case_number_distance == 0
    assert found.evidence.amount is AmountAgreement.EQUAL
    assert found.evidence.payer is PayerAgreement.ID_NUMBER
    assert found.evidence.holds == ()


@pytest.mark.parametrize(
    "reference",
    [
        "（２０２５）京０１０５执１２３４号",  # full-width throughout
        "〔2025〕京 0105 执 1234 号",
        "[2025]京0105执1234",
        "2025京0105执1243号",  # transposed
        "2025京0105执124号",  # missing digit
        "2025京0105执1235号",  # wrong digit
        "2025京0105执1234 13800138000",  # a phone number typed straight after it
    ],
)
def test_case_numbers_are_found_in_any_width_bracket_or_with_one_typo(reference: str) -> None:
    [found] = match_payments([replace(FINE, reference=reference)], [JOURNALIST, NEIGHBOUR])
    assert found.verdict is Verdict.MATCHED, found
    assert found.listing_id == "L-1"


def test_two_typos_in_the_case_number_do_not_count_as_the_case_number() -> None:
    [found] = match_payments([replace(FINE, reference="2025京0105执1276号")], [JOURNALIST])
    assert found.evidence is not None
    assert found.evidence.case_number_distance is None
    assert found.verdict is Verdict.REVIEW


def test_exact_amount_payer_and_date_without_a_case_number_goes_to_review() -> None:
    payment = replace(FINE, reference="fine", destination_account=ACCOUNT)
    [found] = match_payments([payment], [JOURNALIST, NEIGHBOUR])
    assert found.verdict is Verdict.REVIEW
    assert found.listing_id == "L-1"
    assert REVIEW_AT <= found.score < AUTO_MATCH_AT
    assert found.evidence is not None and found.evidence.holds == ("no_case_number",)


def test_paying_another_persons_case_with_the_same_amount_goes_to_review() -> None:
    # The neighbour pays, quoting the journalist's case: it must not settle it by itself.
    payment = replace(FINE, payer_id_key="id-neighbour", payer_name_key="name-neighbour")
    [found] = match_payments([payment], [JOURNALIST, NEIGHBOUR])
    assert found.verdict is Verdict.REVIEW
    assert found.evidence is not None
    assert "payer_conflict" in found.evidence.holds


def test_a_short_payment_is_not_a_settlement() -> None:
    [found] = match_payments([replace(FINE, amount=Decimal("4999.99"))], [JOURNALIST])
    assert found.verdict is Verdict.REVIEW
    assert found.evidence is not None and found.evidence.amount is AmountAgreement.SHORT


def test_paying_more_than_owed_settles_it() -> None:
    [found] = match_payments([replace(FINE, amount=Decimal("5100"))], [JOURNALIST])
    assert found.verdict is Verdict.MATCHED
    assert found.evidence is not None and found.evidence.amount is AmountAgreement.COVERS


def test_money_sent_to_an_unrelated_account_is_held_for_review() -> None:
    [found] = match_payments([replace(FINE, destination_account="4000123412341234")], [JOURNALIST])
    assert found.verdict is Verdict.REVIEW
    assert found.evidence is not None and "account_far" in found.evidence.holds


def test_the_name_stands_in_for_a_missing_id_number() -> None:
    [found] = match_payments([replace(FINE, payer_id_key=None)], [JOURNALIST])
    assert found.verdict is Verdict.MATCHED
    assert found.evidence is not None and found.evidence.payer is PayerAgreement.NAME


def test_a_payment_sharing_nothing_is_unmatched_and_kept() -> None:
    stray = Payment("P-9", Decimal("12.00"), "CNY", dt.date(2026, 9, 30), "1", "gift")
    found = match_payments([FINE, stray], [JOURNALIST])
    assert [m.payment_key for m in found] == ["P-1", "P-9"]
    assert found[1].verdict is Verdict.UNMATCHED
    assert found[1].listing_id is None


def test_two_equally_good_listings_are_ambiguous() -> None:
    twin = replace(JOURNALIST, listing_id="L-0")  # the same case listed twice
    [found] = match_payments([FINE], [JOURNALIST, twin])
    assert found.listing_id == "L-0"  # ties go to the smaller id, every time
    assert found.verdict is Verdict.REVIEW
    assert found.evidence is not None and "ambiguous" in found.evidence.holds


def test_matching_a_thousand_is_deterministic_and_finds_each_own_case() -> None:
    judgments = [
        replace(
            JOURNALIST,
            listing_id=f"L-{i:05d}",
            case_number=f"(2025)京0105执{i}号",
            amount_owed=Decimal(1000 + i % 50),
            person_id_key=f"id-{i}",
            person_name_key=None,
        )
        for i in range(1, 1001)
    ]
    payments = [
        replace(
            FINE,
            payment_key=f"P-{i:05d}",
            reference=f"执行款 2025京0105执{i}号",
            amount=Decimal(1000 + i % 50),
            payer_id_key=f"id-{i}",
            payer_name_key=None,
        )
        for i in range(1, 1001)
    ]
    first = match_payments(payments, judgments)
    assert first == match_payments(payments, judgments)
    assert all(m.verdict is Verdict.MATCHED for m in first)
    assert [m.listing_id for m in first] == [j.listing_id for j in judgments]


def test_names_normalise_width_spaces_and_dots() -> None:
    assert normalise_names(
        ["买买提·艾力", "买买提 艾力", "Zhang  Wei", "ZHANG WEI", "ＺＨＡＮＧ"]
    ) == [
        "买买提艾力",
        "买买提艾力",
        "zhangwei",
        "zhangwei",
        "zhang",
    ]


def test_payment_keys_must_be_unique() -> None:
    with pytest.raises(ValueError, match="unique"):
        match_payments([FINE, FINE], [JOURNALIST])
