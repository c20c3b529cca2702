"""PII detection benchmark: labelled synthetic exchanges, shared-corpus value sets, scoring."""
