"""Names in one comparable form: every common spelling of a name meets its Hanzi."""

from __future__ import annotations

import pyarrow as pa
import pytest

from kaimen.matching.names import normalise_name, normalise_names, segment


@pytest.mark.parametrize(
    "spelling",
    [
        "王小明",
        "Wáng Xiǎomíng",
        "wang2 xiao3 ming2",
        "WANG Xiaoming",
        "Xiaoming WANG",
        "Xiaoming Wang",
        "Wang Xiao-Ming",
        "Xiao-Ming Wang",
        "wangxiaoming",
        "  wang   xiao ming ",
    ],
)
def test_every_spelling_of_a_name_has_the_same_pinyin(spelling: str) -> None:
    name = normalise_name(spelling)
    assert name is not None
    assert name.pinyin == "wangxiaoming"
    assert name.unordered == "ming wang xiao"
    assert name.surname == "wang"


@pytest.mark.parametrize("spelling", ["吕娜", "Lü Na", "LYU Na", "Lv Na", "lu:na", "Lǚ Nà"])
def test_u_umlaut_is_written_v_whatever_the_spelling(spelling: str) -> None:
    name = normalise_name(spelling)
    assert name is not None and name.pinyin == "lvna"


@pytest.mark.parametrize(
    ("hanzi", "pinyin"),
    [("曾乐", "zengle"), ("单伟", "shanwei"), ("仇敏", "qiumin"), ("欧阳娜", "ouyangna")],
)
def test_surnames_are_read_as_surnames(hanzi: str, pinyin: str) -> None:
    name = normalise_name(hanzi)
    assert name is not None and name.pinyin == pinyin


def test_hanzi_is_kept_and_pinyin_has_none() -> None:
    hanzi = normalise_name("买买提·艾力")
    assert hanzi is not None and hanzi.hanzi == "买买提艾力"
    pinyin = normalise_name("Zhang Wei")
    assert pinyin is not None and pinyin.hanzi is None


def test_order_that_cannot_be_told_still_agrees_unordered() -> None:
    first, second = normalise_name("Wei Wang"), normalise_name("Wang Wei")
    assert first is not None and second is not None
    assert first.unordered == second.unordered == "wang wei"


@pytest.mark.parametrize("blank", [None, "", "   ", "--", "·"])
def test_blank_names_are_none(blank: str | None) -> None:
    assert normalise_name(blank) is None


def test_segmentation_prefers_fewest_syllables_and_refuses_non_pinyin() -> None:
    assert segment("xiaoming") == ["xiao", "ming"]
    assert segment("xian") == ["xian"]
    assert segment("smith") is None


def test_a_column_is_normalised_row_by_row_with_nulls_kept() -> None:
    table = normalise_names(pa.array(["王伟", None, "Wang Wei", "王伟"]))
    assert table.column("name_pinyin").to_pylist() == ["wangwei", None, "wangwei", "wangwei"]
    assert table.column("name_hanzi").to_pylist() == ["王伟", None, None, "王伟"]
