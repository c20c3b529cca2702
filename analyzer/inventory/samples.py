"""PII samples as a caller may see them: stored samples are already masked by the detector;
a role without the right to read them (viewers) gets their shape only."""

from __future__ import annotations


def mask_fully(sample: str | None) -> str | None:
    """Every letter and digit of an (already masked) sample hidden: shape and punctuation only."""
    if sample is None:
        return None
    return "".join("*" if ch.isalnum() else ch for ch in sample)


def shown(sample: str | None, *, full_samples: bool) -> str | None:
    """The stored sample, or its shape when the caller may not read samples."""
    return sample if full_samples else mask_fully(sample)
