from kaimen.domain.events import (
    ENVELOPE,
    ENVELOPE_REQUIRED,
    EVENT_KINDS,
    FIELDS,
    MERCHANT_CATEGORIES,
    PAYLOAD_NAMES,
)

PROTECTED_WORDS = ("health", "medical", "religio", "church", "temple", "politic", "union")


def test_every_kind_names_only_known_payload_fields() -> None:
    for kind in EVENT_KINDS.values():
        assert set(kind.fields) <= set(PAYLOAD_NAMES), kind.name
        assert set(kind.choices) <= set(kind.fields), kind.name
        assert len(set(kind.fields)) == len(kind.fields), kind.name


def test_the_catalogue_covers_the_behaviours_kaimen_scores() -> None:
    assert {
        "payment",
        "loan_repayment",
        "bill_repayment",
        "rent_payment",
        "utility_payment",
        "rental",
        "fine",
        "attribute",
        "friend_link",
        "donation",
        "court_judgment",
    } == set(EVENT_KINDS)
    assert {f.name for f in ENVELOPE} >= {"source", "event_id", "person_id", "occurred_at"}


def test_merchant_categories_reveal_no_protected_trait() -> None:
    for category in MERCHANT_CATEGORIES:
        assert not any(word in category for word in PROTECTED_WORDS), category


def test_every_field_is_documented() -> None:
    for spec in FIELDS.values():
        assert spec.description.strip(), spec.name


def test_every_event_names_its_sender_id_person_kind_and_time() -> None:
    assert ENVELOPE_REQUIRED == ("source", "event_id", "person_id", "kind", "occurred_at")
    for kind in EVENT_KINDS.values():
        assert kind.every_required == ENVELOPE_REQUIRED + kind.required, kind.name
