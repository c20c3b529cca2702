"""Names under field names that only suggest a person ("author", "displayName", a driver's
"name"), when neither word is on the bundled name lists: two or three name-cased words that are
no everyday, business, place or brand words are a person's; things' names stay quiet."""

from __future__ import annotations

import pytest

from analyzer.pii import default_detector
from analyzer.pii.names import looks_like_person


@pytest.mark.parametrize(
    "value", ["Czcibor Borkowski", "Roelien Vuik", "Kurbika Akhtakhanov", "Jean-Luc Picard", "McArthur Wheeler"]
)
def test_unlisted_names_look_like_people(value: str) -> None:
    assert looks_like_person(value)


@pytest.mark.parametrize(
    "value",
    [
        "GitHub Actions",  # brand casing
        "WordPress Admin",
        "IPod Nano",
        "Advanced Analytics",  # business vocabulary
        "Senior Engineer",  # job title
        "Dark Blue",  # colour
        "Platform Team",
        "Conference Room",
        "Shovda",  # one unknown word is too little evidence
        "cba",
        "Release Notifications Bot",
        "Zyxtor Qwelbin Vorpath Klimber",  # four unknown words: a title, not a name
        "New York",  # places of more than one word
        "South Africa",
        "San Jose",
        "Fort Worth",
    ],
)
def test_things_do_not(value: str) -> None:
    assert not looks_like_person(value)


def test_detector_uses_it_under_suggestive_names_only() -> None:
    detector = default_detector()
    assert ("PERSON", 0.85) in detector.detect_value("Czcibor Borkowski", "author")
    assert ("PERSON", 0.85) in detector.detect_value("Czcibor Borkowski", "displayName")
    assert detector.detect_value("Czcibor Borkowski", "title") == []
    assert detector.detect_value("GitHub Actions", "username") == []
