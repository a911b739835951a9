"""The linkage model: what is compared, how candidates are found, and the trained parameters.

Comparisons (each level's SQL is here; its m and u probabilities are in
`linkage_parameters.json`, written by `kaimen.matching.training` from a training run):
- name: Hanzi identical; Hanzi different but same Pinyin (homophones, 王伟/王玮); same
  Pinyin (one side written in Pinyin); same syllables in another order; Jaro-Winkler on
  the Pinyin >= 0.95 and >= 0.88; anything else. The three levels of equal Pinyin are adjusted
  for how common the name is (term frequencies), so a shared 王伟 counts for less than a rare
  name.
- birth date: identical; one digit wrong or two swapped; within a year; else.
- ID region (digits 1-6): identical; one digit wrong; else.
- ID tail (sequence and check character): identical; one digit wrong or two swapped; else.
- gender (from the ID's 17th digit): agrees or not, counted only when the tails differ,
  because an identical tail already contains that digit.
A side with the value unknown (masked, missing) makes the comparison neutral.

Blocking: pairs are scored only when they share the ID tail, the birth date, the name's
syllables and birth year, or the ID region and the name's syllables. Each is selective (about
a hundred candidates per entry at a million people), and a true match escapes all four only
when its tail, birth date and name are all wrong or unknown at once.
"""

from __future__ import annotations

import copy
import functools
import json
from importlib import resources
from typing import Any

from kaimen.domain.json_values import JsonObject

PARAMETERS_FILE = "linkage_parameters.json"


def _level(sql: str, label: str, **extra: Any) -> dict[str, Any]:
    return {"sql_condition": sql, "label_for_charts": label, **extra}


def _null(column: str) -> dict[str, Any]:
    return _level(f'"{column}_l" IS NULL OR "{column}_r" IS NULL', "unknown", is_null_level=True)


ELSE = {"sql_condition": "ELSE", "label_for_charts": "else"}

COMPARISONS: tuple[dict[str, Any], ...] = (
    {
        "output_column_name": "name",
        "comparison_levels": [
            _null("name_pinyin"),
            _level(
                '"name_hanzi_l" = "name_hanzi_r"',
                "hanzi identical",
                tf_adjustment_column="name_hanzi",
                tf_adjustment_weight=1.0,
            ),
            _level(
                '"name_hanzi_l" IS NOT NULL AND "name_hanzi_r" IS NOT NULL '
                'AND "name_pinyin_l" = "name_pinyin_r"',
                "homophone hanzi",
                tf_adjustment_column="name_pinyin",
                tf_adjustment_weight=1.0,
            ),
            _level(
                '"name_pinyin_l" = "name_pinyin_r"',
                "pinyin identical",
                tf_adjustment_column="name_pinyin",
                tf_adjustment_weight=1.0,
            ),
            _level('"name_unordered_l" = "name_unordered_r"', "same syllables, other order"),
            _level(
                'jaro_winkler_similarity("name_pinyin_l", "name_pinyin_r") >= 0.95',
                "pinyin jw 0.95",
            ),
            _level(
                'jaro_winkler_similarity("name_pinyin_l", "name_pinyin_r") >= 0.88',
                "pinyin jw 0.88",
            ),
            ELSE,
        ],
    },
    {
        "output_column_name": "birth_date",
        "comparison_levels": [
            _null("birth_text"),
            _level('"birth_text_l" = "birth_text_r"', "identical"),
            _level(
                'damerau_levenshtein("birth_text_l", "birth_text_r") <= 1',
                "one digit wrong or swapped",
            ),
            _level(
                "abs(date_diff('day', strptime(\"birth_text_l\", '%Y%m%d'), "
                "strptime(\"birth_text_r\", '%Y%m%d'))) <= 366",
                "within a year",
            ),
            ELSE,
        ],
    },
    {
        "output_column_name": "id_region",
        "comparison_levels": [
            _null("id_region"),
            _level('"id_region_l" = "id_region_r"', "identical"),
            _level('levenshtein("id_region_l", "id_region_r") <= 1', "one digit wrong"),
            ELSE,
        ],
    },
    {
        "output_column_name": "id_tail",
        "comparison_levels": [
            _null("id_tail"),
            _level('"id_tail_l" = "id_tail_r"', "identical"),
            _level(
                'damerau_levenshtein("id_tail_l", "id_tail_r") <= 1',
                "one digit wrong or swapped",
            ),
            ELSE,
        ],
    },
    {
        "output_column_name": "gender",
        "comparison_levels": [
            _level(
                '"gender_l" IS NULL OR "gender_r" IS NULL OR "id_tail_l" = "id_tail_r"',
                "unknown or counted in the tail",
                is_null_level=True,
            ),
            _level('"gender_l" = "gender_r"', "identical"),
            ELSE,
        ],
    },
)

BLOCKING_RULES: tuple[str, ...] = (
    'l."id_tail" = r."id_tail"',
    'l."birth_text" = r."birth_text"',
    'l."name_unordered" = r."name_unordered" AND l."birth_year" = r."birth_year"',
    'l."id_region" = r."id_region" AND l."name_unordered" = r."name_unordered"',
)


def base_settings() -> dict[str, Any]:
    """Splink settings without parameters: link court entries to people, never within one."""
    return {
        "link_type": "link_only",
        "unique_id_column_name": "unique_id",
        "comparisons": copy.deepcopy(list(COMPARISONS)),
        "blocking_rules_to_generate_predictions": list(BLOCKING_RULES),
        "retain_matching_columns": False,
        "retain_intermediate_calculation_columns": False,
        "additional_columns_to_retain": [],
    }


@functools.cache
def _parameters_text() -> str:
    return resources.files("kaimen.matching").joinpath(PARAMETERS_FILE).read_text("utf-8")


def trained_parameters() -> JsonObject:
    """The shipped m and u probabilities: {comparison: {level label: {"m": .., "u": ..}}}."""
    parameters: JsonObject = json.loads(_parameters_text())["comparisons"]
    return parameters


def settings(probability_two_random_records_match: float) -> dict[str, Any]:
    """Splink settings with the shipped parameters and the given prior."""
    chosen = base_settings()
    parameters = trained_parameters()
    for comparison in chosen["comparisons"]:
        trained = parameters[comparison["output_column_name"]]
        assert isinstance(trained, dict)
        for level in comparison["comparison_levels"]:
            if level.get("is_null_level"):
                continue
            values = trained[level["label_for_charts"]]
            assert isinstance(values, dict)
            level["m_probability"] = values["m"]
            level["u_probability"] = values["u"]
    chosen["probability_two_random_records_match"] = probability_two_random_records_match
    return chosen
