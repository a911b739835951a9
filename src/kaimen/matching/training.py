"""Training the linkage model's m and u probabilities (run by hand, not at link time).

u (how often a level occurs between two different people) is estimated by random sampling
of pairs, seeded; m (how often it occurs for the same person) by expectation maximisation,
which needs no labels: once on pairs sharing the ID tail (which trains name, birth date and
region) and once on pairs sharing the birth date (which trains the ID tail and gender).

kaimen links with fixed parameters from one such run rather than training on each court
list: EM on a list of a few dozen entries is unstable, and a person's link should not depend
on who else happened to be in the same file. Rerun this on a real list (no truth needed) to
fit real error rates; `benchmarks/identity_matching.py --train` writes the shipped file.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

import pyarrow as pa
import splink
from splink import DuckDBAPI, Linker

from kaimen.domain.json_values import JsonObject, JsonValue
from kaimen.matching.linkage import ENTRIES_SOURCE, PEOPLE_SOURCE, linkage_connection, quiet_splink
from kaimen.matching.linkage_inputs import comparable_entries, comparable_people
from kaimen.matching.linkage_model import base_settings

# A level never seen among matches in training still happens in life (a birth date wrong
# beyond a year, a tail with two errors): no m is allowed below this, so a single
# disagreement cannot veto a link on its own as if it were impossible. (u needs no floor: it
# is measured on millions of sampled pairs.)
PROBABILITY_FLOOR = 1e-4
EM_BLOCKS = ('l."id_tail" = r."id_tail"', 'l."birth_text" = r."birth_text"')


def _parameters(model: dict[str, Any]) -> dict[str, JsonValue]:
    comparisons: dict[str, JsonValue] = {}
    for comparison in model["comparisons"]:
        levels: dict[str, JsonValue] = {}
        for level in comparison["comparison_levels"]:
            if level.get("is_null_level"):
                continue
            m = max(float(level["m_probability"]), PROBABILITY_FLOOR)
            u = float(level["u_probability"])
            levels[level["label_for_charts"]] = {
                "m": round(m, 6),
                "u": round(u, 9),
                "bayes_factor": round(m / u, 3),
            }
        comparisons[comparison["output_column_name"]] = levels
    return comparisons


def train_parameters(
    entries: pa.Table, people: pa.Table, seed: int, max_pairs: float = 2e7
) -> JsonObject:
    """m and u per comparison level, with what they were trained on, as a JSON object."""
    with linkage_connection() as connection, quiet_splink():
        left = comparable_entries(connection, entries)
        right = comparable_people(connection, people)
        api = DuckDBAPI(connection)
        settings = base_settings()
        settings["probability_two_random_records_match"] = 0.5 / right.num_rows
        linker = Linker(
            [
                api.register(left, table_name=ENTRIES_SOURCE),
                api.register(right, table_name=PEOPLE_SOURCE),
            ],
            settings,
            log_level=None,
        )
        linker.training.estimate_u_using_random_sampling(max_pairs=max_pairs, seed=seed)
        for block in EM_BLOCKS:
            linker.training.estimate_parameters_using_expectation_maximisation(block)
        model = linker.misc.save_model_to_json()
    return {
        "trained": {
            "date": dt.date.today().isoformat(),
            "splink": splink.__version__,
            "seed": seed,
            "entries": entries.num_rows,
            "people": people.num_rows,
            "u": f"random sampling, {max_pairs:.0e} pairs",
            "m": "expectation maximisation, blocked on " + " and on ".join(EM_BLOCKS),
        },
        "comparisons": _parameters(model),
    }
