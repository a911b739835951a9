"""Payment matching (run by hand): generated payments against generated open judgments, with
known truth, timed against the ceiling of the same sizes' blocking joins in the same run.

    .venv/bin/python benchmarks/payment_matching.py --sizes 2000 10000

Each size makes that many open listings (case numbers dense within a few courts and years,
amounts from a short list of round sums, so many listings share one) and as many payments:
80% pay a listing (the reference quoting its case number exactly, in full-width characters,
with one wrong, missing or transposed character, or not at all; the amount exact, or more,
or short; the payer the listed person by ID number or only by name, or a relative; the
court's account exact, or one or two digits wrong, or another account), 20% are stray.

Reported: wall time of `match_payments`, and the ratio against the ceiling: the union of the
equi-joins that make candidate pairs (amount, ID key, name key) on the same tables in DuckDB,
the least any matcher that looks at every shared signal must do. Quality: precision of the
automatic matches (the listing is the one truly paid), the share of true payments matched
automatically, and the share whose true listing is the candidate of an automatic match or a
review (recall of auto + review). Results go to benchmarks/results/payment_matching.json/.md.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import platform
import random
import time
from decimal import Decimal
from pathlib import Path

import duckdb

from kaimen.matching import payments as matching
from kaimen.matching.payment_records import OpenJudgment, Payment, Verdict

ROOT = Path(__file__).resolve().parent
COURTS = [("京", "0105", "北京朝阳"), ("沪", "0101", "上海黄浦"), ("粤", "0304", "深圳福田")]
ACCOUNTS = {name: f"62220210{i:03d}12345678{i}" for i, (_, _, name) in enumerate(COURTS)}
AMOUNTS = [Decimal(500 * k) for k in range(1, 121)]
FULL_WIDTH = str.maketrans("0123456789()", "０１２３４５６７８９（）")


def _typo(text: str, rng: random.Random) -> str:
    at = rng.randrange(len(text) - 1)
    kind = rng.choice(("wrong", "missing", "swap"))
    if kind == "wrong":
        digit = str((int(text[at]) + 1) % 10) if text[at].isdigit() else "9"
        return text[:at] + digit + text[at + 1 :]
    if kind == "missing":
        return text[:at] + text[at + 1 :]
    return text[:at] + text[at + 1] + text[at] + text[at + 2 :]


def generate(size: int, seed: int) -> tuple[list[OpenJudgment], list[Payment], dict[str, str]]:
    rng = random.Random(seed)
    judgments = []
    seqs = rng.sample(range(1, 4 * size), size)
    for i, seq in enumerate(seqs):
        abbr, code, court = COURTS[i % len(COURTS)]
        year = 2021 + i % 5
        judgments.append(
            OpenJudgment(
                listing_id=f"L{i:08d}",
                case_number=f"({year}){abbr}{code}执{seq}号",
                court=court,
                amount_owed=rng.choice(AMOUNTS),
                currency="CNY",
                judgment_date=dt.date(year, 1 + i % 12, 1 + i % 28),
                collection_account=ACCOUNTS[court],
                person_id_key=f"id{i}",
                person_name_key=f"name{rng.randrange(size // 3 + 1)}",  # names recur
            )
        )
    payments, truth = [], {}
    for k in range(size):
        key = f"P{k:08d}"
        if rng.random() < 0.2:
            payments.append(
                Payment(
                    key,
                    Decimal(rng.randrange(1, 99999)),
                    "CNY",
                    dt.date(2026, 9, 1),
                    "4000" + str(rng.randrange(10**12)),
                    "transfer",
                )
            )
            continue
        j = judgments[rng.randrange(size)]
        truth[key] = j.listing_id
        style = rng.random()
        case = j.case_number
        if style < 0.5:
            reference = f"执行款 {case}"
        elif style < 0.65:
            reference = case.translate(FULL_WIDTH)
        elif style < 0.85:
            reference = "罚款" + _typo(case.strip("号"), rng)
        else:
            reference = "court fine"
        roll = rng.random()
        amount = (
            j.amount_owed
            if roll < 0.9
            else (j.amount_owed + 100 if roll < 0.95 else j.amount_owed - 100)
        )
        who = rng.random()
        id_key = j.person_id_key if who < 0.7 else (None if who < 0.85 else f"relative{k}")
        name_key = j.person_name_key if who < 0.85 else f"relative-name{k}"
        account = ACCOUNTS[j.court]
        roll = rng.random()
        if roll >= 0.7:
            account = (
                _typo(account, rng)
                if roll < 0.9
                else (_typo(_typo(account, rng), rng) if roll < 0.95 else "4000" + str(k))
            )
        payments.append(
            Payment(key, amount, "CNY", dt.date(2026, 9, 30), account, reference, id_key, name_key)
        )
    return judgments, payments, truth


def ceiling(judgments: list[OpenJudgment], payments: list[Payment]) -> float:
    connection = duckdb.connect()
    connection.register("p", matching._payments_table(payments))
    connection.register("j", matching._judgments_table(judgments))
    started = time.perf_counter()
    connection.execute(
        "select count(*) from ("
        " select p.payment_key, j.listing_id from p join j using (amount, currency)"
        " union select p.payment_key, j.listing_id from p join j using (id_key)"
        " union select p.payment_key, j.listing_id from p join j using (name_key))"
    ).fetchall()
    return time.perf_counter() - started


def run(size: int, seed: int) -> dict[str, float | int]:
    judgments, payments, truth = generate(size, seed)
    started = time.perf_counter()
    found = matching.match_payments(payments, judgments)
    wall = time.perf_counter() - started
    floor = min(ceiling(judgments, payments) for _ in range(3))
    auto = [m for m in found if m.verdict is Verdict.MATCHED]
    auto_right = sum(1 for m in auto if truth.get(m.payment_key) == m.listing_id)
    caught = sum(
        1
        for m in found
        if m.verdict in (Verdict.MATCHED, Verdict.REVIEW)
        and truth.get(m.payment_key) == m.listing_id
    )
    return {
        "size": size,
        "seconds": round(wall, 3),
        "ceiling_seconds": round(floor, 3),
        "ratio": round(wall / floor, 1),
        "auto": len(auto),
        "auto_precision": round(auto_right / max(len(auto), 1), 4),
        "auto_share_of_true": round(auto_right / len(truth), 4),
        "auto_plus_review_recall": round(caught / len(truth), 4),
        "review": sum(1 for m in found if m.verdict is Verdict.REVIEW),
        "unmatched": sum(1 for m in found if m.verdict is Verdict.UNMATCHED),
    }


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--sizes", type=int, nargs="+", default=[2000, 10000])
    parser.add_argument("--seed", type=int, default=11)
    args = parser.parse_args()
    rows = [run(size, args.seed) for size in args.sizes]
    meta = {
        "when": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "machine": platform.platform(),
        "thresholds": {"auto": matching.AUTO_MATCH_AT, "review": matching.REVIEW_AT},
    }
    out = ROOT / "results"
    out.mkdir(exist_ok=True)
    (out / "payment_matching.json").write_text(json.dumps({"meta": meta, "runs": rows}, indent=2))
    lines = [
        "# Payment matching",
        "",
        f"{meta['when']}, {meta['machine']}",
        "",
        "| listings = payments | seconds | ceiling (blocking joins) | ratio | auto precision "
        "| auto share of true | auto + review recall | review | unmatched |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        lines.append(
            f"| {r['size']:,} | {r['seconds']} | {r['ceiling_seconds']} | {r['ratio']} "
            f"| {r['auto_precision']} | {r['auto_share_of_true']} | {r['auto_plus_review_recall']} "
            f"| {r['review']:,} | {r['unmatched']:,} |"
        )
    (out / "payment_matching.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
