"""The friend graph's bounded influence: each person's choice to use it, friends' consent to
lend their score, and what a person's connections add (see `kaimen.domain.connections`)."""
