"""The contexts of life a fact comes from and a privilege applies in.

Keeping a consequence inside the context its facts came from is what separates a lawful
programme from social scoring: a late rent payment may cost a rental deposit, but a traffic
fine must not cost a child's school place. The points rulebook names a context for every
privilege, the event catalogue's kinds map to the contexts their facts belong to, and a
profile lists the contexts in which privileges may be offered at all.
"""

from __future__ import annotations

from typing import Literal, get_args

Context = Literal[
    "lending",  # loans, credit lines, instalments, deposits on credit
    "renting",  # rentals of things and homes, and their deposits
    "utilities",  # power, water, telecoms: service without a deposit
    "transport",  # roads and vehicles: traffic fines, vehicle facts, parking
    "civic",  # public recognition of volunteering, donations, care
    "travel",  # flights, high-speed rail, hotels
    "education",  # school and university admission
    "employment",  # hiring and promotion
    "licences",  # business, professional and driving licences
    "social_services",  # welfare, subsidies, public housing, health care
]
CONTEXTS: tuple[str, ...] = get_args(Context)

# The contexts each event kind's facts belong to: the one definition the points rulebook's
# validator (and anything else that keeps consequences in their context) reads. A kind with
# no context here (purchases, identity facts, friend links) belongs to none in which a
# privilege may be opened or closed: what a person buys, who they are and whom they know
# are not conduct a programme may reward or punish anywhere.
EVENT_CONTEXTS: dict[str, tuple[Context, ...]] = {
    "payment": (),
    "loan_repayment": ("lending",),
    # A credit card bill is credit; a phone bill is a telecoms service.
    "bill_repayment": ("lending", "utilities"),
    "rent_payment": ("renting",),
    "utility_payment": ("utilities",),
    "rental": ("renting",),
    # The catalogue's fines are traffic and parking fines.
    "fine": ("transport",),
    "attribute": (),
    "friend_link": (),
    "donation": ("civic",),
    # The court list holds civil judgments for unpaid debts.
    "court_judgment": ("lending",),
}
