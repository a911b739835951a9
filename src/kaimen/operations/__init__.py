"""Operating kaimen: what the store and the lake hold, whether the audit log verifies, and
whether the service is ready."""
