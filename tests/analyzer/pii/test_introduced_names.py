"""IntroducedNameRecognizer: names that words of free text introduce (first-person introductions,
salutations, titles, reporting verbs), including names off the bundled lists after first-person
introducers; things, places and sentence starts after the same words stay quiet."""

from __future__ import annotations

import pytest

from analyzer.pii import default_detector
from analyzer.pii.names import find_introduced_names


def names_in(text: str) -> list[str]:
    return [text[a:b] for a, b in find_introduced_names(text)]


@pytest.mark.parametrize(
    ("text", "name"),
    [
        ("Hi, this is Walentyna Pawłowska from accounting.", "Walentyna Pawłowska"),
        ("I'm Bojka Žilih, originally from Dolores", "Bojka Žilih"),
        ("Dear Chris,\nthe refund is done", "Chris"),
        ("thanks Maria, see you", "Maria"),
        ("reviewed by Chris Sanders today", "Chris Sanders"),
        ("please ask Dr. Okafor about it", "Okafor"),
        ("Her maiden name is Clark", "Clark"),
        ('"Not again," says Becker.', "Becker"),
        ("She named him Devin", "Devin"),
        ("Tosh Olsen lives at 172 Maneeži 75", "Tosh Olsen"),
        ("Best regards,\nMaria Lopez", "Maria Lopez"),
        ("attempts for user Ananya Sharma were logged", "Ananya Sharma"),  # a role, a listed surname
        ("Officer Barnes recorded the plate", "Barnes"),
        ("Applicant Saira Mendez uploaded a photo", "Saira Mendez"),
        ("Hi, this is Roxy van der Torre from accounting.", "Roxy van der Torre"),  # particles
        ("Escalated by Hansine Geisler; waiting for the vendor.", "Hansine Geisler"),
    ],
)
def test_introduced_names(text: str, name: str) -> None:
    assert names_in(text) == [name]


@pytest.mark.parametrize(
    "text",
    [
        "Dear Sir,",
        "Powered by Apache Kafka",
        "This is Apache Kafka.",  # "this is" + unlisted words needs a person's continuation
        "a tool called Data Studio",
        "12 Oak Dr. Springfield",  # the street type, then a place
        "This is Great News",
        "I am Happy to help",
        "Contact Support Team",
        "with Google Chrome",
        "From Berlin to Paris",
        "sorted by Name",
        "Apple said on Monday",
        "The server said hello",
        "a dog named Rex",
        "Hi Team, the build is green",
        "user Admin logged in",
        "the user agent Mozilla Firefox",
        "customer Acme Corp",
        "driver Ford Focus",
        "manager Kubernetes Dashboard",
        "Bumper to Bumper Auto Parts",  # "to" is no agent introducer, and three words
        "I'm in New York, see you",  # a place of two words
    ],
)
def test_things_after_introducers_stay_quiet(text: str) -> None:
    assert names_in(text) == []


def test_the_detector_reports_the_name_alone() -> None:
    detector = default_detector()
    assert [t for t, _ in detector.detect_value("Hi, this is Walentyna Pawłowska from accounting.")] == ["PERSON"]
    # A thing's label (title, product name) says the words are not a person's.
    assert detector.detect_value("Dear Chris, a song", "title") == []
