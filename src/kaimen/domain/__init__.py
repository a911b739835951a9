"""Pure, typed values and rules with no I/O."""
