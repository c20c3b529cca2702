"""OWASP CRS regression tests (go-ftw YAML) as labelled requests for the injection rules.

Each test of ``tests/regression/tests/<folder>/<rule>.yaml`` is one HTTP request and says
whether its CRS rule must fire (``expect_ids``) or must not (``no_expect_ids``). The folder is
the attack class; :data:`CLASS_OF_FOLDER` maps it onto APICensus's injection subtypes
(``None`` = a class the injection rule does not claim, reported separately).

Used by ``bench/crs_bench.py`` (the whole corpus in ``../shared/corpus/attacks/crs``) and by
``tests/analyzer/detect/test_crs.py`` (the subset copied into ``tests/analyzer/detect/data``).
"""

from __future__ import annotations

import base64
from collections.abc import Iterator
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import yaml

# CRS folder prefix -> injection subtype (None: outside the six subtypes the rule claims).
CLASS_OF_FOLDER: dict[str, str | None] = {
    "REQUEST-913": None,  # scanner user agents: the scanner rule's, not injection
    "REQUEST-921": None,  # protocol attacks (smuggling, splitting, pollution)
    "REQUEST-930": "path_traversal",
    "REQUEST-932": "cmd_injection",
    "REQUEST-933": None,  # PHP code injection
    "REQUEST-941": "xss",
    "REQUEST-942": "sqli",
    "REQUEST-944": None,  # Java deserialisation; the Log4Shell rules below are jndi
}
JNDI_RULES = frozenset({944150, 944151, 944152})


@dataclass(frozen=True, slots=True)
class CrsCase:
    """One CRS regression test: a request and whether its rule must fire."""

    folder: str
    rule_id: int
    test_id: int
    desc: str
    klass: str | None
    must_fire: bool
    method: str
    uri: str
    headers: tuple[tuple[str, str], ...]
    body: bytes
    # A must-not-fire case whose request is, byte for byte, a must-fire case of another CRS rule:
    # an attack that this rule leaves to another one, so not benign traffic.
    attack_elsewhere: bool = False
    # Why a must-not-fire case was reviewed as an attack payload (bench/attacks/crs_reviewed.txt).
    reviewed_attack: str | None = None

    @property
    def name(self) -> str:
        return f"{self.rule_id}-{self.test_id}"


def case_class(folder: str, rule_id: int) -> str | None:
    if rule_id in JNDI_RULES:
        return "jndi"
    return CLASS_OF_FOLDER.get(folder[:11])


def _raw_request(encoded: str) -> tuple[str, str, list[tuple[str, str]], bytes]:
    raw = base64.b64decode(encoded)
    head, _, body = raw.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    method, _, rest = lines[0].partition(" ")
    uri = rest.rsplit(" ", 1)[0]
    headers = [(n.strip(), v.strip()) for n, _, v in (line.partition(":") for line in lines[1:] if line)]
    return method, uri, headers, body


def _cases_of_file(path: Path) -> Iterator[CrsCase]:
    doc: dict[str, Any] = yaml.safe_load(path.read_text(encoding="utf-8"))
    rule_id = int(path.stem)  # the file name: 933200.yaml says rule_id 9331200 upstream
    folder = path.parent.name
    for test in doc.get("tests") or []:
        for stage in test.get("stages") or []:
            inp = stage.get("input") or {}
            log = (stage.get("output") or {}).get("log") or {}
            if "expect_ids" in log or "match_regex" in log:
                must_fire = True
            elif "no_expect_ids" in log:
                must_fire = False
            else:
                continue
            if inp.get("encoded_request"):
                method, uri, headers, body = _raw_request(inp["encoded_request"])
            else:
                method = str(inp.get("method") or "GET")
                uri = str(inp.get("uri") or "/")
                headers = [(str(k), str(v)) for k, v in (inp.get("headers") or {}).items()]
                data = inp.get("data")
                if isinstance(data, list):
                    data = "\r\n".join(str(x) for x in data)
                body = str(data).encode("utf-8", "surrogateescape") if data is not None else b""
            yield CrsCase(
                folder=folder,
                rule_id=rule_id,
                test_id=int(test.get("test_id") or 0),
                desc=str(test.get("desc") or ""),
                klass=case_class(folder, rule_id),
                must_fire=must_fire,
                method=method,
                uri=uri,
                headers=tuple(headers),
                body=body,
            )


def _request_key(case: CrsCase) -> tuple[object, ...]:
    headers = tuple(sorted((k.lower(), v) for k, v in case.headers if k.lower() not in ("host", "content-length")))
    return (case.method, case.uri, case.body, headers)


def load_cases(root: Path) -> list[CrsCase]:
    """Every test under ``root`` (folders of ``<rule>.yaml`` files), in a stable order."""
    cases: list[CrsCase] = []
    for path in sorted(root.glob("REQUEST-*/*.yaml")):
        cases.extend(_cases_of_file(path))
    attacks = {_request_key(c) for c in cases if c.must_fire}
    # A subset (the copy under tests/) lists what the whole corpus showed, case by case.
    listed = root / "ATTACKS_ELSEWHERE.txt"
    names = set(listed.read_text(encoding="utf-8").split()) if listed.is_file() else set()
    reviewed = load_reviewed(root / "REVIEWED_ATTACKS.txt" if (root / "REVIEWED_ATTACKS.txt").is_file() else REVIEWED)
    out = []
    for c in cases:
        if not c.must_fire and (_request_key(c) in attacks or c.name in names):
            c = replace(c, attack_elsewhere=True)
        elif not c.must_fire and c.name in reviewed:
            c = replace(c, reviewed_attack=reviewed[c.name])
        out.append(c)
    return out


REVIEWED = Path(__file__).with_name("crs_reviewed.txt")


def load_reviewed(path: Path) -> dict[str, str]:
    """Case name -> reason, from a reviewed-attacks list (``#`` comments)."""
    reviewed: dict[str, str] = {}
    for line in path.read_text(encoding="utf-8").splitlines():
        if line.strip() and not line.startswith("#"):
            name, _, reason = line.strip().partition(" ")
            reviewed[name] = reason.strip()
    return reviewed
