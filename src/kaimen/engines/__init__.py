"""Engines that run queries over the lake: DuckDB embedded by default."""
