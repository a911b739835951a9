from kaimen.domain.scores import DIMENSIONS, Dimension


def test_dimension_names_in_the_order_they_are_shown() -> None:
    assert DIMENSIONS == ("credit_history", "behaviour", "capacity", "identity", "connections")
    assert tuple(Dimension) == DIMENSIONS
