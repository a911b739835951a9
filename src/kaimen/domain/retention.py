"""When a negative item's conduct ended, the day its retention is counted from
(`Profile.retention_ends`), for each kind of item.

Events (negative as `disputes.NEGATIVE_EVENT_VALUES` says), by kind; a date is the local date
in the profile's time zone:

- a repayment (loan, bill, rent, utility) paid late: its paid date when later than the day
  it occurred; defaulted (no paid date): the day it occurred;
- a rental returned late, damaged or left unpaid: the day it occurred;
- a fine issued: the day the first matching `paid` fine event (same person, same case
  number) occurred, when on or after the issue; otherwise the day it was issued;
- a court judgment entered: the day the first matching `satisfied` or `overturned` judgment
  event (same person, case number and court) occurred; otherwise the day it was entered.

An item whose end kaimen never learns (a default never repaid, a fine with no payment) is
counted from the day it happened, as the FCRA counts from the first delinquency: nothing a
furnisher fails to send keeps an item alive. The event that resolved an expired one (the
fine's payment, the judgment's satisfaction) expires with it: left alone it would offset a
later, unrelated fine or judgment in the all-time balances.

Court listings: a listing the court still holds open (`entered`, `settled-pending`) never
expires, as the court's order is live and kaimen does not remove what the court keeps; a
closed one (`satisfied`, `lifted`, `overturned`) is counted from the day it reached that
status (its newest history row into it), or its judgment date when no history says so.
"""

from __future__ import annotations

from kaimen.domain.events import REPAYMENT_KINDS

# Kinds whose own paid date ends the conduct when it is later than the event.
PAID_DATE_KINDS = REPAYMENT_KINDS


# kind -> (the field, the values that resolve a negative event of the kind, the fields
# naming which one), e.g. a fine `paid` with the case number of the fine `issued`.
RESOLVED_BY: dict[str, tuple[str, frozenset[str], tuple[str, ...]]] = {
    "fine": ("status", frozenset({"paid"}), ("case_number",)),
    "court_judgment": ("status", frozenset({"satisfied", "overturned"}), ("case_number", "court")),
}

# Court listing statuses: closed ones expire, open ones never do.
CLOSED_LISTING_STATUSES = ("satisfied", "lifted", "overturned")
