"""The points programme: rulebooks checked against the profile and the prohibited criteria, and
an append-only ledger per person whose balance is its replay."""
