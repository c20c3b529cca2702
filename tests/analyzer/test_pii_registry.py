"""The PII registry selects: one spec per entity, every recognizer claimed by a spec, and a
recognizer nobody claims stops the detector instead of silently never running."""

from __future__ import annotations

import inspect
import re

import pytest
from presidio_analyzer import EntityRecognizer, Pattern, PatternRecognizer

from analyzer.pii import entities, masking, recognizers
from analyzer.pii.detector import PiiDetector, UnclaimedRecognizerError
from analyzer.pii.entities import SPECS, EntitySpec, Screen
from analyzer.pii.fields import context_for
from analyzer.pii.recognizers import RECOGNIZERS, build_registry

EXAMPLES: dict[str, tuple[str, str | None]] = {
    "EMAIL_ADDRESS": ("wei.zhang@example.com", None),
    "PHONE_NUMBER": ("+44 7911 123456", None),
    "CREDIT_CARD": ("4111 1111 1111 1111", None),
    "US_SSN": ("536-22-1934", None),
    "IBAN_CODE": ("GB82 WEST 1234 5698 7654 32", None),
    "CN_RESIDENT_ID": ("11010519491231002X", None),
    "PERSON": ("Wei Zhang", "full_name"),
    "LOCATION": ("221B Baker Street, London", None),
    "DATE_OF_BIRTH": ("1985-03-02", "dob"),
    "IP_ADDRESS": ("203.0.113.7", None),
    "CREDENTIAL": ("sk_live_4eC39HqLyjWDarjtT1zdp7dc", None),
}
DETECTOR = PiiDetector()


def test_one_spec_per_entity_each_complete() -> None:
    types = [spec.type for spec in SPECS]
    assert len(types) == len(set(types)), "two specs for one entity"
    for spec in SPECS:
        assert spec.recognizers, spec.type
        assert callable(spec.masker), spec.type
        assert spec.field_names is not None, f"{spec.type}: no field-name pattern"
        example = EXAMPLES[spec.type]  # a new entity needs an example here too
        assert spec.type in {t for t, _ in DETECTOR.detect_value(*example)}, example
        assert example[0] not in spec.masker(example[0]), spec.type
    assert {"CREDENTIAL"} == entities.SECRET_TYPES


def test_every_registered_recognizer_has_a_spec() -> None:
    registry = build_registry()
    claimed = [name for spec in SPECS for name in spec.recognizers]
    assert len(claimed) == len(set(claimed)), "a recognizer claimed by two specs"
    names = sorted(r.name for r in registry.recognizers)
    assert names == sorted(claimed)
    # Each recognizer reports the entity of the spec that claims it.
    by_name = {r.name: r for r in registry.recognizers}
    for spec in SPECS:
        for name in spec.recognizers:
            assert by_name[name].supported_entities == [spec.type], name


def test_every_recognizer_class_is_registered() -> None:
    # A recognizer written in recognizers.py but left out of RECOGNIZERS (hence of every spec)
    # would never run: the class list and the registry must agree.
    defined = {
        name
        for name, obj in inspect.getmembers(recognizers, inspect.isclass)
        if issubclass(obj, EntityRecognizer) and obj.__module__ == recognizers.__name__
    }
    assert defined <= set(RECOGNIZERS), defined - set(RECOGNIZERS)
    assert set(RECOGNIZERS) == {name for spec in SPECS for name in spec.recognizers}


class _EmployeeIdRecognizer(PatternRecognizer):
    def __init__(self) -> None:
        super().__init__(
            supported_entity="EMPLOYEE_ID",
            patterns=[Pattern("employee id", r"\bEMP-\d{6}\b", 0.9)],
            name="EmployeeIdRecognizer",
        )


def test_a_recognizer_without_a_spec_stops_the_detector() -> None:
    registry = build_registry()
    registry.add_recognizer(_EmployeeIdRecognizer())
    with pytest.raises(UnclaimedRecognizerError, match="EmployeeIdRecognizer"):
        PiiDetector(registry=registry)


def test_a_spec_naming_a_missing_recognizer_stops_the_detector() -> None:
    spec = EntitySpec(
        type="EMPLOYEE_ID",
        recognizers=("EmployeeIdRecognizer",),
        screen=Screen(pattern=re.compile("EMP-")),
        masker=masking.mask_credential,
    )
    with pytest.raises(UnclaimedRecognizerError, match="EMPLOYEE_ID"):
        PiiDetector(registry=build_registry(), specs=(*SPECS, spec))


def test_a_new_spec_runs_without_detector_code() -> None:
    # The detector has no per-entity code: a spec plus its recognizer is all a new entity needs.
    spec = EntitySpec(
        type="EMPLOYEE_ID",
        recognizers=("EmployeeIdRecognizer",),
        screen=Screen(min_len=10, needs="-", pattern=re.compile(r"EMP-\d")),
        masker=masking.mask_credential,
    )
    registry = build_registry()
    registry.add_recognizer(_EmployeeIdRecognizer())
    detector = PiiDetector(registry=registry, specs=(*SPECS, spec))
    assert detector.detect_value("badge EMP-123456 issued") == [("EMPLOYEE_ID", 0.9)]
    assert detector.detect_value("EMP-12") == []  # the screen's min length gates it out
    # The stock entities still run beside it.
    assert {t for t, _ in detector.detect_value("EMP-123456 wei.zhang@example.com")} == {
        "EMPLOYEE_ID",
        "EMAIL_ADDRESS",
    }


def test_field_names_come_from_the_specs() -> None:
    for spec in SPECS:
        assert spec.field_names is not None
    assert "PHONE_NUMBER" in context_for("", "mobile").types
    assert "IBAN_CODE" in context_for("", "refundIban").types
    assert "CN_RESIDENT_ID" in context_for("", "身份证号").types
    assert {"PERSON", "LOCATION", "CREDENTIAL", "PHONE_NUMBER"} == entities.FIELD_ONLY_TYPES


def test_masks_come_from_the_specs() -> None:
    for spec in SPECS:
        assert masking.mask(spec.type, "4111111111111111") == spec.masker("4111111111111111")
