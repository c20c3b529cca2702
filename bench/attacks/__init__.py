"""Labelled attack traffic for the threat detector: OWASP CRS regression cases and a generator."""
