"""`python -m kaimen`: the same command as the `kaimen` script."""

from kaimen.cli import main

main()
