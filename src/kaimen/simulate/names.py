"""Hanzi names for simulated people, with the frequency skew of real Chinese names.

Surnames follow the published shares of the most common ones (王, 李, 张 and 刘 alone cover
about a quarter of the population), then a tail. Given names are one character (about a
fifth of people) or two, drawn from pools with a Zipf-like skew, separate for men and women,
so that many people share a common name (王伟, 张静, 李娜) and namesakes born the same year
are frequent in a large population, as they are in life.

Names come from their own random stream, so adding them leaves every existing output of
`make_population` unchanged.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt
import pyarrow as pa
import pyarrow.compute as pc

# Shares in percent of the 2020 census for the top 20; the tail shares are illustrative and
# fall off like the real distribution. Heteronymous surnames (曾, 单, 解, 乐, 查, 仇, 区, 朴,
# 翟, 覃) and compound ones (欧阳, 司马, 诸葛, 上官) are included to exercise surname readings.
SURNAMES: tuple[tuple[str, float], ...] = (
    *(("王", 7.1), ("李", 7.0), ("张", 6.7), ("刘", 5.4), ("陈", 4.5), ("杨", 3.1)),
    *(("黄", 2.2), ("赵", 2.0), ("吴", 2.0), ("周", 1.9), ("徐", 1.5), ("孙", 1.5)),
    *(("马", 1.3), ("朱", 1.3), ("胡", 1.2), ("郭", 1.1), ("何", 1.0), ("林", 1.0)),
    *(("罗", 0.9), ("高", 0.9), ("郑", 0.8), ("梁", 0.8), ("谢", 0.7), ("宋", 0.6)),
    *(("唐", 0.6), ("许", 0.6), ("韩", 0.6), ("冯", 0.5), ("邓", 0.5), ("曹", 0.5)),
    *(("彭", 0.5), ("曾", 0.5), ("肖", 0.5), ("田", 0.4), ("董", 0.4), ("袁", 0.4)),
    *(("潘", 0.4), ("于", 0.4), ("蒋", 0.4), ("蔡", 0.4), ("余", 0.4), ("杜", 0.4)),
    *(("叶", 0.3), ("程", 0.3), ("苏", 0.3), ("魏", 0.3), ("吕", 0.3), ("丁", 0.3)),
    *(("任", 0.3), ("沈", 0.3), ("姚", 0.3), ("卢", 0.3), ("姜", 0.3), ("崔", 0.3)),
    *(("钟", 0.2), ("谭", 0.2), ("陆", 0.2), ("汪", 0.2), ("范", 0.2), ("金", 0.2)),
    *(("石", 0.2), ("廖", 0.2), ("贾", 0.2), ("夏", 0.2), ("韦", 0.2), ("付", 0.2)),
    *(("方", 0.2), ("白", 0.2), ("邹", 0.2), ("孟", 0.2), ("熊", 0.2), ("秦", 0.2)),
    *(("单", 0.05), ("解", 0.05), ("乐", 0.05), ("查", 0.05), ("仇", 0.04), ("区", 0.04)),
    *(("朴", 0.04), ("翟", 0.04), ("覃", 0.04), ("缪", 0.03), ("欧阳", 0.06), ("司马", 0.02)),
    *(("诸葛", 0.01), ("上官", 0.01)),
)

# Characters common in given names, most frequent first (the order sets the skew).
MALE_GIVEN = (
    "伟强磊军勇杰涛明超刚平辉健波斌鹏浩宇峰建国华龙飞鑫亮俊文博志新海林东晨阳凯振宁"
    "德成永兴良旭昊天嘉子豪宏毅松柏江山泽远帅晓春庆祥福生荣锋炜彬坤"
)
FEMALE_GIVEN = (
    "芳娜敏静丽艳娟霞秀英玲桂兰燕萍红梅琳雪倩婷颖洁玉慧莉佳欣怡晶丹琴云蓉璐瑶雅悦"
    "思彤诗涵梦婉蕾薇月春晓秋菊凤霖露洋巧珍翠淑惠琪璇妍"
)
SINGLE_CHARACTER_SHARE = 0.2
ZIPF_EXPONENT = 0.8


def _zipf(count: int) -> npt.NDArray[np.float64]:
    weights: npt.NDArray[np.float64] = np.arange(1, count + 1, dtype=np.float64) ** -ZIPF_EXPONENT
    return weights / float(weights.sum())


def _pool(characters: str) -> npt.NDArray[np.str_]:
    return np.array(list(dict.fromkeys(characters)))


def surname_choices() -> tuple[npt.NDArray[np.str_], npt.NDArray[np.float64]]:
    """The surname pool and its probabilities."""
    names = np.array([s for s, _ in SURNAMES])
    shares = np.array([p for _, p in SURNAMES], dtype=np.float64)
    return names, shares / shares.sum()


def _given_names(rng: np.random.Generator, n: int, characters: str) -> npt.NDArray[np.str_]:
    pool = _pool(characters)
    weights = _zipf(len(pool))
    first = pool[rng.choice(len(pool), n, p=weights)]
    second = pool[rng.choice(len(pool), n, p=weights)]
    single = rng.random(n) < SINGLE_CHARACTER_SHARE
    return np.where(single, first, np.char.add(first, second))


def hanzi_names(rng: np.random.Generator, is_male: npt.NDArray[np.bool_]) -> pa.Array:
    """A Hanzi name (surname then given name) for each person, by sex."""
    n = len(is_male)
    surnames, shares = surname_choices()
    surname = surnames[rng.choice(len(surnames), n, p=shares)]
    given = np.where(is_male, _given_names(rng, n, MALE_GIVEN), _given_names(rng, n, FEMALE_GIVEN))
    return pa.array(np.char.add(surname, given).tolist(), type=pa.string())


def is_male(national_id: pa.Array) -> npt.NDArray[np.bool_]:
    """Sex from the identity number: the 17th character is odd for men (GB 11643)."""
    digit = pc.cast(pc.utf8_slice_codeunits(national_id, 16, 17), pa.int64())
    return np.asarray(pc.equal(pc.bit_wise_and(digit, 1), 1).to_numpy(zero_copy_only=False))


def population_names(seed: int, national_id: pa.Array) -> pa.Array:
    """Names for a simulated population, from a stream of their own keyed by `seed`."""
    rng = np.random.default_rng([seed, 0x4E414D45])  # "NAME": apart from the population's stream
    return hanzi_names(rng, is_male(national_id))
