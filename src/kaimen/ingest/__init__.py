"""Ingestion: validate, deduplicate and store events from files and HTTP, all or nothing."""
