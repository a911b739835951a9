"""Probabilistic record linkage (Splink on DuckDB): court-list entries against enrolled
people, by name (Hanzi and Pinyin), birth date and partial ID number. Pure computation: no
store, no I/O."""
