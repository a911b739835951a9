"""Personal names in one comparable form: toneless Pinyin syllables, surname first.

A court list writes a name in Hanzi (王小明) or in Pinyin, and Pinyin arrives in many shapes:
`Wáng Xiǎomíng`, `wang2 xiao3 ming2`, `WANG Xiaoming`, `Xiaoming Wang`, `Wang Xiao-Ming`,
`wangxiaoming`, `Lü`, `Lv`, `Lyu`. Both sides of a match are reduced to:

- `pinyin`: the syllables without tones, lower case, no spaces, surname first when the order
  can be told (`wangxiaoming`); ü is written `v` (lü, lv, lu:, lyu all become `lv`);
- `unordered`: the same syllables sorted, space-separated, so that `xiaoming wang` and
  `wang xiaoming` agree whatever the order was;
- `surname`: the surname's syllables (`wang`, `ouyang`) when known;
- `hanzi`: the Hanzi with spaces and middle dots removed, when the name was written in Hanzi.

Hanzi are read with pypinyin, except the surname: pypinyin 0.55 has no surname mode
(mozillazg/python-pinyin#297), so heteronymous surnames (曾 zeng, not ceng; 单 shan, not
dan) and compound surnames (欧阳, 司马) are read from the table below.
"""

from __future__ import annotations

import functools
import re
import unicodedata

import pyarrow as pa
import pyarrow.compute as pc

from kaimen.input_files import text_array
from kaimen.matching.records import NormalisedName

# Surname readings that differ from a character's everyday reading, and compound surnames.
SURNAME_READINGS: dict[str, str] = {
    "万俟": "moqi",
    "尉迟": "yuchi",
    "单于": "chanyu",
    "长孙": "zhangsun",
    "欧阳": "ouyang",
    "司马": "sima",
    "诸葛": "zhuge",
    "上官": "shangguan",
    "东方": "dongfang",
    "皇甫": "huangfu",
    "公孙": "gongsun",
    "慕容": "murong",
    "令狐": "linghu",
    "宇文": "yuwen",
    "司徒": "situ",
    "夏侯": "xiahou",
    "轩辕": "xuanyuan",
    "端木": "duanmu",
    "曾": "zeng",
    "单": "shan",
    "解": "xie",
    "乐": "yue",
    "查": "zha",
    "仇": "qiu",
    "区": "ou",
    "朴": "piao",
    "翟": "zhai",
    "覃": "qin",
    "缪": "miao",
    "盖": "ge",
    "秘": "bi",
    "种": "chong",
    "重": "chong",
    "繁": "po",
    "折": "she",
    "佴": "nai",
    "那": "na",
    "过": "guo",
    "纪": "ji",
    "燕": "yan",
    "华": "hua",
    "冯": "feng",
    "瞿": "qu",
    "薄": "bo",
    "贾": "jia",
    "柏": "bai",
    "牟": "mou",
    "阚": "kan",
    "宿": "su",
    "沈": "shen",
    "石": "shi",
    "尉": "yu",
    "召": "shao",
    "员": "yun",
    "都": "du",
    "六": "lu",
    "任": "ren",
    "行": "xing",
    "藏": "zang",
    "曲": "qu",
    "乜": "nie",
    "卜": "bu",
    "殷": "yin",
}

HANZI = re.compile(r"[\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff]")
NOT_HANZI = re.compile(r"[^\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff]")
# Words of a name are apart by spaces or commas; inside a word, hyphens and apostrophes only
# mark syllable boundaries (`Xiao-Ming`, `Xi'an`), so they never change the order of words.
WORD_SEPARATORS = re.compile(r"[\s,·•_/]+")
SYLLABLE_MARKS = re.compile(r"[\-\u2010-\u2015'\u2019`.]+")
LONGEST_SYLLABLE = 6


@functools.cache
def syllables() -> frozenset[str]:
    """Every toneless Pinyin syllable pypinyin knows (ü written as v), about 400."""
    # pypinyin is imported where Hanzi are read: its dictionaries cost over half a second
    # to import, which the server and every command that never reads a name paid.
    from pypinyin.contrib.tone_convert import to_normal
    from pypinyin.pinyin_dict import pinyin_dict

    readings = {r for joined in set(pinyin_dict.values()) for r in joined.split(",")}
    plain = {to_normal(r) for r in readings}
    return frozenset(p for p in plain if p.isascii() and p.isalpha())


@functools.cache
def surname_syllables() -> frozenset[str]:
    """Pinyin of the surnames kaimen knows how to read, for telling the order of a name."""
    common = (
        "王李张刘陈杨黄赵吴周徐孙马朱胡郭何林罗高郑梁谢宋唐许韩冯邓曹彭肖田董袁潘于蒋蔡余杜叶程"
    )
    common += (
        "苏魏吕丁沈姚卢姜崔钟谭陆汪范金廖贾夏韦付方白邹孟熊秦邱江尹薛闫段雷侯龙史黎贺顾毛郝龚邵万"
    )
    from pypinyin import lazy_pinyin  # see syllables

    found = {"".join(lazy_pinyin(c)) for c in common}
    return frozenset(found | set(SURNAME_READINGS.values()))


def segment(token: str) -> list[str] | None:
    """Split run-together Pinyin into syllables (fewest syllables wins), or None if it is not
    Pinyin. `xian` stays one syllable; `xi'an` arrives already split at the apostrophe."""
    known = syllables()
    n = len(token)
    best: list[list[str] | None] = [None] * (n + 1)
    best[0] = []
    for end in range(1, n + 1):
        for start in range(max(0, end - LONGEST_SYLLABLE), end):
            head = best[start]
            piece = token[start:end]
            if head is not None and piece in known:
                candidate = [*head, piece]
                current = best[end]
                if current is None or len(candidate) < len(current):
                    best[end] = candidate
    return best[n]


def _plain_latin(text: str) -> str:
    """Lower case, tones (marks or numbers) removed, ü variants written as v."""
    # Decomposed first, so that ü with a tone mark (ǚ, ǜ) is a u followed by a diaeresis too.
    decomposed = unicodedata.normalize("NFD", text).replace("u\u0308", "v")
    decomposed = decomposed.replace("U\u0308", "v").replace("u:", "v").replace("U:", "v")
    stripped = "".join(c for c in decomposed if not unicodedata.combining(c))
    stripped = re.sub(r"[0-9]", "", stripped.lower())
    # The passport spelling of 吕/女 (LYU, NYU) is the same syllable as lv, nv.
    return re.sub(r"\b([ln])yu", r"\1v", stripped)


def _surname_first(tokens: list[str], upper_case: list[bool]) -> list[str]:
    """Put the surname token first when the order can be told: a token written all in capitals
    (the passport convention, `Xiaoming WANG`), or a known surname at the end only."""
    if len(tokens) < 2:
        return tokens
    if sum(upper_case) == 1 and not all(upper_case):
        index = upper_case.index(True)
        return [tokens[index], *tokens[:index], *tokens[index + 1 :]]
    surnames = surname_syllables()
    if tokens[0] not in surnames and tokens[-1] in surnames:
        return [tokens[-1], *tokens[:-1]]
    return tokens


def _from_pinyin(text: str) -> NormalisedName | None:
    raw_tokens = [t for t in WORD_SEPARATORS.split(text.strip()) if SYLLABLE_MARKS.sub("", t)]
    if not raw_tokens:
        return None
    upper_case = [t.isupper() and len(t) > 1 for t in raw_tokens]
    words = [[c for c in SYLLABLE_MARKS.split(_plain_latin(t)) if c] for t in raw_tokens]
    keep = [(w, u) for w, u in zip(words, upper_case, strict=True) if w]
    if not keep:
        return None
    ordered = _surname_first(["".join(w) for w, _ in keep], [u for _, u in keep])
    chunks = {"".join(w): w for w, _ in keep}
    pieces: list[str] = []
    for word in ordered:
        for chunk in chunks[word]:
            pieces.extend(segment(chunk) or [chunk])
    first_split = segment(ordered[0])
    surname = ordered[0] if len(ordered) > 1 else (first_split[0] if first_split else None)
    return NormalisedName(
        hanzi=None,
        pinyin="".join(pieces),
        unordered=" ".join(sorted(pieces)),
        surname=surname,
    )


def _from_hanzi(text: str) -> NormalisedName | None:
    hanzi = NOT_HANZI.sub("", text)
    if not hanzi:
        return None
    from pypinyin import lazy_pinyin  # see syllables

    surname_hanzi = hanzi[:2] if hanzi[:2] in SURNAME_READINGS else hanzi[:1]
    surname = SURNAME_READINGS.get(surname_hanzi) or "".join(lazy_pinyin(surname_hanzi))
    given = lazy_pinyin(hanzi[len(surname_hanzi) :]) if len(hanzi) > len(surname_hanzi) else []
    pieces = [*(segment(surname) or [surname]), *given]
    return NormalisedName(
        hanzi=hanzi,
        pinyin="".join(pieces),
        unordered=" ".join(sorted(pieces)),
        surname=surname,
    )


def normalise_name(text: str | None) -> NormalisedName | None:
    """One name in comparable form, or None when nothing usable is left (blank, punctuation)."""
    if text is None or not text.strip():
        return None
    if HANZI.search(text):
        return _from_hanzi(text)
    return _from_pinyin(text)


NAME_COLUMNS = ("name_hanzi", "name_pinyin", "name_unordered", "surname")


def normalise_names(names: pa.Array | pa.ChunkedArray) -> pa.Table:
    """`normalise_name` for a whole column: each distinct name is read once (common names
    repeat, so a population of millions has far fewer distinct names), then spread back."""
    encoded = pc.dictionary_encode(
        names.combine_chunks() if isinstance(names, pa.ChunkedArray) else names
    )
    distinct = [normalise_name(v) for v in encoded.dictionary.to_pylist()]
    # `text_array`, not `pa.array`: Arrow's Python converter loads pandas, and enrolment
    # reads names through here.
    columns = {
        "name_hanzi": text_array([d.hanzi if d else None for d in distinct]),
        "name_pinyin": text_array([d.pinyin if d else None for d in distinct]),
        "name_unordered": text_array([d.unordered if d else None for d in distinct]),
        "surname": text_array([d.surname if d else None for d in distinct]),
    }
    return pa.table({k: pc.take(v, encoded.indices) for k, v in columns.items()})
