"""Sharing a person's standing with partners, only under their consent: decisions on offers,
risk reports and partner feedback; and the person's own data (export, opt-out)."""
