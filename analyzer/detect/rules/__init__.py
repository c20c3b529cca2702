"""The detection rules registry: the engine iterates :func:`default_rules` in this order.

Each rule has ``kind``, ``severity``, ``window`` and ``title`` (see ``base.Rule``). To add a
detection, write a rule class and list it here; ``RULE_KINDS`` is what the API derives its event
types from.
"""

from __future__ import annotations

from analyzer.detect.model import EVENT_TYPES
from analyzer.detect.rules.anomaly import AnomalyRule
from analyzer.detect.rules.attacks import InjectionRule, ScannerRule
from analyzer.detect.rules.base import Hasher, Hit, Rule, Sink
from analyzer.detect.rules.bfla import BflaRule
from analyzer.detect.rules.credentials import CredentialRule
from analyzer.detect.rules.harvest import DataFlow, HarvestRule
from analyzer.detect.rules.objects import BolaRule, EnumerationRule, Ownership
from analyzer.detect.rules.posture import PostureRule, load_common_passwords
from analyzer.detect.settings import DetectSettings

RULE_KINDS = EVENT_TYPES

__all__ = ["DataFlow", "Hasher", "Hit", "Ownership", "RULE_KINDS", "Rule", "Sink", "default_rules", "load_common_passwords"]


def default_rules(
    settings: DetectSettings, hasher: Hasher, ownership: Ownership, common_passwords: frozenset[str]
) -> list[Rule]:
    return [
        BolaRule(settings, hasher, ownership),
        EnumerationRule(settings, hasher, ownership),
        HarvestRule(settings, hasher),
        CredentialRule(settings, hasher),
        InjectionRule(settings, hasher),
        ScannerRule(settings, hasher),
        BflaRule(settings, hasher, ownership),
        AnomalyRule(settings, hasher),
        PostureRule(settings, hasher, common_passwords),
    ]
