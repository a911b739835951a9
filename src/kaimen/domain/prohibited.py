"""The prohibited criteria: what no programme may score and no free-text field may record
(health, religion, political opinion and the other special categories), with the words in
English and Chinese that name each. One list for the points rulebook's validator and the
event rules."""

from __future__ import annotations

import re

# Criteria no programme may score: the special categories of personal data (GDPR art. 9(1),
# PIPL art. 28's sensitive information) and speech (ICCPR art. 19: a rumour is answered by
# a court, not by points).
PROHIBITED: dict[str, str] = {
    "political_opinion": "political opinions",
    "religion": "religious or philosophical beliefs",
    "ethnicity": "racial or ethnic origin",
    "health": "health",
    "genetics": "genetic data",
    "biometrics": "biometric data",
    "sexual_orientation": "sex life or sexual orientation",
    "union_membership": "trade union membership",
    "speech": "speech and expression",
}

# Words that name a prohibited topic, in English and Chinese: what catches a rule whose
# declaration looks lawful but whose words say otherwise.
TOPIC_WORDS: dict[str, tuple[str, ...]] = {
    "political_opinion": (
        r"\bpolitic",
        r"\bprotest",
        r"\bpetition",
        r"\bdissent",
        r"\bparty members?hip",
        "上访",
        "政治",
    ),
    "religion": (
        r"\breligio",
        r"\bchurch",
        r"\bmosque",
        r"\btemple",
        r"\bworship",
        r"\bprayer",
        r"\bcult\b",
        "宗教",
        "信仰",
        "邪教",
    ),
    "ethnicity": (r"\bethnic", r"\bracial", r"\brace\b", r"\buyghur", r"\btibetan", "民族"),
    "health": (
        r"\bhealth",
        r"\bdisease",
        r"\billness",
        r"\bhiv\b",
        r"\bpregnan",
        r"\bdisabilit",
        r"\bmental",
        "健康",
        "疾病",
    ),
    "genetics": (r"\bgenetic", r"\bgenes?\b", r"\bdna\b", "基因"),
    "biometrics": (r"\bbiometric", r"\bfingerprint", r"\bfacial", r"\bface scan", "指纹", "人脸"),
    "sexual_orientation": (
        r"\bsexual",
        r"\bgay\b",
        r"\blesbian",
        r"\bhomosexual",
        r"\blgbt",
        "同性",
    ),
    "union_membership": (
        r"\btrade unions?\b",
        r"\blabou?r unions?\b",
        r"\bunion (member|dues|activit)",
        r"\bunioni[sz]",
        "工会",
    ),
    "speech": (
        r"\brumou?rs?\b",
        r"\bspeech\b",
        r"\bonline (post|comment)",
        r"\bsocial media\b",
        r"\bweibo\b",
        r"\bcriticis",
        "谣言",
        "言论",
    ),
}
TOPICS = {
    criterion: re.compile("|".join(words), re.IGNORECASE)
    for criterion, words in TOPIC_WORDS.items()
}


def sql_pattern(criterion: str) -> str:
    """The words naming `criterion` as one case-insensitive RE2 pattern (DuckDB's
    `regexp_matches`): the same words `TOPICS` searches with."""
    return "(?i)" + "|".join(TOPIC_WORDS[criterion])
