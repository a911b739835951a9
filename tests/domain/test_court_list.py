from kaimen.domain.court_list import FILE_LAGS, RESTRICTIVE, STATUSES, transition_problem


def test_a_listing_moves_forward_only() -> None:
    assert transition_problem("entered", "satisfied") is None
    assert transition_problem("entered", "overturned") is None
    assert transition_problem("entered", "entered") is None
    assert transition_problem("settled-pending", "entered") is None  # the court objects
    assert transition_problem("settled-pending", "lifted") is None
    for final in ("satisfied", "overturned", "lifted"):
        for other in STATUSES:
            if other != final:
                problem = transition_problem(final, other)
                assert problem is not None and "final" in problem
    problem = transition_problem("entered", "lifted")
    assert problem is not None and "from entered: overturned, satisfied, settled-pending" in problem


def test_only_entered_and_settled_pending_restrict() -> None:
    assert {"entered", "settled-pending"} == RESTRICTIVE
    assert all(new == "entered" for _, new in FILE_LAGS)
