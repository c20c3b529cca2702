"""Person names without an NER model: given-name and surname lists, and the tests built on them.

The lists are Faker's person providers for all its locales (about 30,000 given names and 28,000
surnames, census- and registry-derived, MIT licence), read from the installed package on first
use (~0.3 s, once per process; nothing is downloaded). They answer two questions:

* does a value under a name that only *suggests* a person (``displayName``, ``author``, the bare
  ``name`` of ``/customers/{id}``) look like a person's name? (:func:`looks_like_person`)
* where in free text is a full name ("... reported by Chris Sanders")? (:func:`find_full_names`):
  a capitalised given name followed by a capitalised surname, both on the lists.

A vocabulary of words that occur in the names of things (apps, teams, companies, places:
"Billing Portal", "Platform Team", "Acme Corp") vetoes both. Without Faker the lists are empty:
suggested names then need two capitalised words and free text finds no names.
"""

from __future__ import annotations

import importlib
import pkgutil
import re
import unicodedata
from collections.abc import Iterable
from dataclasses import dataclass
from functools import lru_cache


def wordset(text: str) -> frozenset[str]:
    """The whitespace-separated words of ``text``: long word lists stay readable in the source."""
    return frozenset(text.split())


# Words in the names of things, never of people (compared case-folded, accents stripped). Words
# that are also common surnames (Park, King, West, Church, Lake) are deliberately absent.
NON_PERSON_WORDS = wordset(
    """
    app apps application applications service services api apis gateway portal platform system systems
    server servers bot bots team teams group groups project projects repo repository store shop market
    markets bank inc llc ltd corp co company gmbh ag sa plc holdings partners solutions technologies tech
    labs lab studio studios media news network networks cloud data sync tools tool integration integrations
    webhook webhooks mobile web ios android desktop admin administrator administrators support sales
    marketing billing finance ops devops dev prod production staging test tests testing demo default
    internal external public private global international university college school hospital clinic
    center centre foundation association institute department office agency council committee club
    society hotel restaurant cafe airport station street road avenue city county river release notes
    version update report reports dashboard console manager monitor engine worker job queue pipeline
    cluster node database storage bucket account accounts key keys token user users product products
    order orders invoice payment payments plan pro plus premium basic free enterprise business home
    series edition collection channel room chat general everyone unknown anonymous root the of and for
    official bundle package library framework sdk plugin extension module feature issue ticket board
    actions action automation workflow workflows runner ci assistant calendar notifications notification
    scheduler noreply reply alerts alert
    monday tuesday wednesday thursday friday saturday sunday january february march april may june july
    august september october november december christmas easter black cyber
    """
)

# Street types: after a capitalised word they make a street ("Park Lane", "Lincoln Ave"), not a surname.
STREET_TYPES = wordset(
    """street st avenue ave road rd boulevard blvd lane ln drive dr way court ct place pl terrace square sq
    parkway pkwy highway hwy circle cir trail close crescent row gardens strasse straße str allee weg"""
)

# Lower-case particles inside names ("Ludwig van Beethoven", "Maria de la Cruz").
_PARTICLES = wordset("de da di du del della der den van von la le bin ibn al el dos das do")
_CJK_NAME = re.compile(r"[\u3400-\u9fff]{2,4}")
_TOKEN = re.compile(r"[^\W\d_](?:[^\W\d_]|['’-])*\.?")
_UPPER_START = re.compile(r"[^\W\d_]")


def fold(word: str) -> str:
    """Case-folded, accents stripped: "Björn" and "BJORN" both become "bjorn"."""
    if word.isascii():
        return word.lower()
    decomposed = unicodedata.normalize("NFKD", word)
    return "".join(ch for ch in decomposed if not unicodedata.combining(ch)).casefold()


@dataclass(frozen=True, slots=True)
class NameLists:
    given: frozenset[str]
    surnames: frozenset[str]
    common_words: frozenset[str]  # everyday English words ("will", "grace", "mark"): weak evidence
    places: frozenset[str]  # countries and US states: "Austin Texas" is no person
    street_suffixes: frozenset[str]  # "Creek", "Loop", "Hill": streets when no surname or near a number
    # Everyday and business English beyond ``common_words`` (Faker's company catch-phrase and
    # buzzword lists, job titles, colour names): "Advanced Analytics", "Senior Engineer", "Dark Blue"
    # are no names when neither word is on the name lists.
    vocabulary: frozenset[str] = frozenset()
    # Places of more than one word, folded ("new york", "south africa"): Faker's countries and US
    # states. "New York" is no person.
    place_phrases: frozenset[str] = frozenset()


def _provider_names(provider: type, attrs: Iterable[str]) -> set[str]:
    out: set[str] = set()
    for attr in attrs:
        for klass in provider.__mro__:
            value = klass.__dict__.get(attr)
            if value is not None:
                if isinstance(value, (tuple, list, dict, set, frozenset)):
                    out.update(str(name) for name in value)
                break
    return out


@lru_cache(maxsize=1)
def name_lists() -> NameLists:
    """Faker's lists, folded; empty when Faker is not installed."""
    try:
        person = importlib.import_module("faker.providers.person")
        lorem = importlib.import_module("faker.providers.lorem.en_US")
        address = importlib.import_module("faker.providers.address.en_US")
        company = importlib.import_module("faker.providers.company.en_US")
        job = importlib.import_module("faker.providers.job.en_US")
        color = importlib.import_module("faker.providers.color.en_US")
    except ImportError:
        return NameLists(frozenset(), frozenset(), frozenset(), frozenset(), frozenset())
    phrases: list[str] = []
    for attr in ("catch_phrase_words", "bsWords"):
        for group in getattr(company.Provider, attr, ()):
            phrases.extend(group)
    phrases.extend(getattr(job.Provider, "jobs", ()))
    phrases.extend(getattr(color.Provider, "all_colors", {}))
    vocabulary = {fold(w) for phrase in phrases for w in re.split(r"[^\w']+", phrase) if len(w) > 1}
    given: set[str] = set()
    surnames: set[str] = set()
    for info in pkgutil.iter_modules(person.__path__):
        try:
            provider = importlib.import_module(f"{person.__name__}.{info.name}").Provider
        except (ImportError, AttributeError):
            continue
        given |= _provider_names(
            provider, ("first_names", "first_names_male", "first_names_female", "first_names_nonbinary")
        )
        surnames |= _provider_names(provider, ("last_names",))
    places = _provider_names(address.Provider, ("countries", "states"))
    # Not every locale's cities: importing ~100 address modules keeps large lists alive that every
    # full garbage collection then walks (PII CPU per exchange rose ~8%).
    place_phrases = {" ".join(fold(w) for w in p.split()) for p in places if " " in p}
    return NameLists(
        given=frozenset(fold(n) for n in given if n and " " not in n),
        surnames=frozenset(fold(n) for n in surnames if n and " " not in n),
        common_words=frozenset(fold(w) for w in lorem.Provider.word_list),
        places=frozenset(fold(p) for p in places if " " not in p),
        street_suffixes=frozenset(fold(w) for w in _provider_names(address.Provider, ("street_suffixes",))),
        vocabulary=frozenset(vocabulary),
        place_phrases=frozenset(place_phrases),
    )


def _capitalised(token: str) -> bool:
    """Starts with an upper-case (or caseless) letter: "Wei", "O'Brien", "张"; not "wei"."""
    return not token[0].islower()


def looks_like_person(value: str) -> bool:
    """A value under a name that only suggests a person: a CJK name, or 1-4 capitalised words
    with no digit and no word of a thing's name, at least one of them on the name lists (a single
    word must be a given name that is not an everyday word). "Eugen Rochko", "Wei Zhang", "Chris"
    pass; "cba", "Billing Portal", "Acme Widgets", "admin", "Default" do not."""
    value = value.strip()
    if not value or len(value) > 70 or any(ch.isdigit() for ch in value):
        return False
    if _CJK_NAME.fullmatch(value):
        return True
    tokens = value.split()
    if not 1 <= len(tokens) <= 4 or not all(_TOKEN.fullmatch(t) for t in tokens):
        return False
    folded = [fold(t.rstrip(".")) for t in tokens]
    if any(f in NON_PERSON_WORDS for f in folded):
        return False
    if not all(_capitalised(t) or f in _PARTICLES for t, f in zip(tokens, folded, strict=True)):
        return False
    lists = name_lists()
    if not lists.given:  # no lists: two capitalised words are the best evidence left
        return len(tokens) >= 2
    if " ".join(folded) in lists.place_phrases or (len(folded) > 1 and folded[0] in NOT_GIVEN):
        return False  # "New York", "South Africa", "San Jose", "Fort Worth"
    if len(tokens) == 1:
        return folded[0] in lists.given and folded[0] not in lists.common_words
    named = [f for f in folded if f in lists.given or f in lists.surnames]
    if named:
        return not all(f in lists.common_words for f in folded if f not in _PARTICLES)
    # Names beyond the lists ("Czcibor Borkowski", "Roelien Vuik"): the field name already suggests
    # a person, so two or three name-cased words, none an everyday, business or place word, will do.
    return 2 <= len(tokens) <= 3 and all(
        f in _PARTICLES or (_NAME_CASED.fullmatch(t) is not None and not _thing_word(f, lists))
        for t, f in zip(tokens, folded, strict=True)
    )


# "Borkowski", "McArthur", "O'Neil", "Jean-Luc": an upper-case letter, then lower-case letters.
# A capital inside the word only after a surname prefix: "GitHub", "WordPress" are brands.
_NAME_CASED = re.compile(
    r"(?:(?:Mc|Mac|De|Di|Da|Le|La|Van|Von|Du|O['’])(?=[^\W\d_a-z]))?"
    r"[^\W\d_a-z][^\W\d_A-Z]+(?:['’-][^\W\d_a-z]?[^\W\d_A-Z]+)*"
)


def _thing_word(folded: str, lists: NameLists) -> bool:
    """A word of everyday English, of things' names, of places or of streets."""
    return (
        folded in lists.common_words
        or folded in lists.vocabulary
        or folded in NON_PERSON_WORDS
        or folded in BUSINESS_WORDS
        or folded in lists.places
        or folded in STREET_TYPES
        or folded in NOT_GIVEN
    )


# A capitalised word with at least one lower-case letter ("Chris", "McDonald", "O'Brien"; not "NASA").
_NAME_WORD = re.compile(r"(?<![\w@/.#$%&*+=-])[^\W\d_][^\W\d_'’-]*[^\W\d_A-Z](?![\w@])")
_BETWEEN = re.compile(r"[ \t]+(?:[A-Z]\.[ \t]+)?")
# A house number next to the pair makes it a street named after a person: "83 Dora Creek",
# "Joaquin Suarez 2906", "Victor Hugo u. 49".
_NUMBER_BEFORE = re.compile(r"\d[ \t,]*$")
_NUMBER_AFTER = re.compile(r"[ \t]+(?:[a-zäöüß]{1,3}\.?[ \t]*)?\d{1,5}\b")
_ADDRESS_NEAR = re.compile(r"\d|\b(?:Apt|Suite|Unit|Box)\b")
_NEXT_WORD = re.compile(r"[ \t]+([^\W\d_][\w'’-]*|&)")
_PREVIOUS_WORD = re.compile(r"([^\W\d_]+)\.?[ \t]+$")
# Words before a name that are not given names: titles of nobility, street and place prefixes.
NOT_GIVEN = wordset(
    """princess prince queen king lord lady sir dame duke duchess saint san santa sankt st fort mount port cape
    rua rue via calle avenida av viale piazza plaza strada camino carrer chemin largo travessa rodovia estrada
    ulica ul utca cite ibn"""
)
# Business words: "Russell Investments", "Rand Corporation", "Boston Consulting".
BUSINESS_WORDS = wordset(
    """investments investment corporation corp consulting capital orchestra associates bros brothers industries
    enterprises ventures realty insurance motors airlines airways foods pharma pharmaceuticals energy logistics
    services stores center centre partners holdings group trust fund foundation records entertainment
    productions publishing press hotels resorts construction"""
)


def find_full_names(text: str) -> list[tuple[int, int]]:
    """(start, end) of each "Given Surname" in free text: a capitalised given name from the lists,
    optionally a middle initial, then a capitalised surname, from the lists or, after a given
    name that is no everyday word, any capitalised word that is no everyday word or place.

    Not names: everyday words on both sides ("Will Power"), words of things' names ("Victoria
    Street", "Billing Portal"), streets and places named after people (a house number next to the
    pair, a street type or prefix: "Rua Ana Caciola 1159", "83 Dora Creek", "Marina Fort"),
    companies ("Rand Corporation", "Boston Consulting Group": a capitalised non-surname follows),
    titles ("Princess Royal")."""
    lists = name_lists()
    if not lists.given:
        return []
    words = [m for m in _NAME_WORD.finditer(text) if _capitalised(m.group())]
    out: list[tuple[int, int]] = []
    for first, second in zip(words, words[1:], strict=False):
        start, end = first.start(), second.end()
        if not _BETWEEN.fullmatch(text, first.end(), second.start()):
            continue
        a, b = fold(first.group()), fold(second.group())
        if a not in lists.given or a in NOT_GIVEN or a in NON_PERSON_WORDS or f"{a} {b}" in lists.place_phrases:
            continue
        if b in NON_PERSON_WORDS or b in BUSINESS_WORDS or b in lists.places or b.endswith(("'s", "’s")):
            continue
        if b in STREET_TYPES or (
            b in lists.street_suffixes
            and (b not in lists.surnames or _ADDRESS_NEAR.search(text, max(0, start - 16), min(len(text), end + 16)))
        ):
            continue  # "Park Lane", "Inna Loop", "224 Forrest Hill Road"
        common_a, common_b = a in lists.common_words, b in lists.common_words
        if b in lists.surnames:
            if common_a and common_b:
                continue
        elif common_a or common_b:
            continue
        if _NUMBER_BEFORE.search(text, max(0, start - 8), start) or _NUMBER_AFTER.match(text, end):
            continue
        previous = _PREVIOUS_WORD.search(text, max(0, start - 16), start)
        if previous is not None and (fold(previous.group(1)) in NOT_GIVEN or fold(previous.group(1)) in _PARTICLES):
            continue  # "40 rue Victor Hugo", "Cite El Farik"
        following = _NEXT_WORD.match(text, end)
        if following is not None:
            nxt = following.group(1)
            if nxt == "&":
                continue  # "William Wanamaker & Sons"
            if _capitalised(nxt) and (fold(nxt) not in lists.surnames or fold(nxt) in BUSINESS_WORDS):
                continue  # a longer proper noun: "Red Robin Stores", "Boston Consulting Group"
        if out and out[-1][1] > start:
            continue  # "Mary Ann Smith": the first pair already covers the name
        out.append((start, end))
    return out


# Words that introduce a person in prose, and the name right after them. First-person and
# salutation introducers ("this is", "I'm", "Dear") make even a pair of unlisted words a name
# ("Hi, this is Walentyna Pawłowska from accounting"); the others ("by", "contact", "called",
# "Dr.", a person's role: "applicant", "Officer") need a listed given name or surname, since things
# follow them too ("powered by Apache Kafka", "a tool called Data Studio", "user Admin").
_INTRODUCER = re.compile(
    r"(?:(?<![\w'’])(?P<first>(?:[Mm]y|[Hh]is|[Hh]er|[Tt]heir)\s+"
    r"(?:(?:maiden|first|last|full|given|family|middle|legal)\s+)?name(?:'s|’s|\s+is)|[Ii]['’]m|[Ii]\s+am|[Tt]his\s+is"
    r"|[Cc]all\s+me|[Dd]ear|[Ss]incerely,?|(?:[Bb]est\s+|[Kk]ind\s+)?[Rr]egards,?|[Cc]heers,?)"
    r"|(?<![\w'’])(?P<other>(?P<says>says|said|asked|told|replied|wrote|(?:named|called)\s+(?:him|her|them))"
    r"|(?P<role>(?i:user|customer|client|employee|patient|applicant|recipient|resident|member|account\s+holder|holder"
    r"|tenant|student|teacher|nurse|driver|passenger|guest|candidate|sender|colleague|owner|reporter|assignee"
    r"|manager|officer|detective|sergeant|captain|agent|judge|senator|minister|professor|attorney|inspector))"
    r"|[Bb]y|[Aa]uthor(?:ed\s+by)?:?|[Cc]ontact(?:ed)?:?|[Cc]alled|[Nn]amed|[Aa]sk|[Cc]c:?"
    r"|[Hh]i|[Hh]ello|[Tt]hanks,?|[Ww]ith|[Ff]rom|[Tt]o|Dr\.?|Doctor|Mr|Mrs|Ms|Prof\.?))[ \t\n]+"
)
_INTRO_TOKEN = re.compile(r"[^\W\d_][^\W\d_'’-]*(?:['’-][^\W\d_]+)*")
_INITIAL = re.compile(r"[A-Z]\.?")
_UPPER_NEXT = re.compile(r"[ \t](?:[a-z]{1,4}[ \t])?[^\W\d_a-z]")
# After "this is <name>": what a person introducing themselves goes on with.
_INTRO_FOLLOW = re.compile(r"[ \t]*(?:[,!\n]|$)|[ \t]+(?:from|here|speaking|calling|with|at|of|in)\b")
# What follows an introduced name: the end, punctuation, or a lower-case word ("... from accounting").
_NAME_END = re.compile(r"(?:[ \t]*(?:[,.;:!?)\n]|$)|[ \t]+[a-z])")


def find_introduced_names(text: str) -> list[tuple[int, int]]:
    """(start, end) of each name that words of the text introduce: "this is Walentyna Pawłowska
    from accounting", "Dear Chris", "reviewed by Chris Sanders", "Dr. Okafor". The span is the name
    alone (1-3 capitalised words, an optional middle initial); the introducing words are context.

    A single word must be a listed given name (a surname after a title), not an everyday word;
    unlisted pairs count only after first-person or salutation introducers and must end there
    (punctuation or a lower-case word next); no word may be an everyday, business, place or street
    word, and "Sir", "Team", "Support" never are names."""
    lists = name_lists()
    if not lists.given:
        return []
    out: list[tuple[int, int]] = []
    for intro in _INTRODUCER.finditer(text):
        tokens: list[tuple[int, int]] = []
        pos = intro.end()
        while len(tokens) < 4:
            match = _INTRO_TOKEN.match(text, pos)
            if tokens and match is not None and match.group() in _PARTICLES and _UPPER_NEXT.match(text, match.end()):
                pos = match.end() + 1  # "Roxy van der Torre": particles join the name, not counted
                continue
            if match is None or not match.group()[0].isupper():
                initial = _INITIAL.match(text, pos)
                if initial is None or not tokens or len(tokens) > 1:
                    break
                match = initial  # "Fredrik L Sommerseth", "Chris M. Sanders"
            tokens.append(match.span())
            gap = re.match(r"[ \t]", text[match.end() : match.end() + 1])
            if gap is None:
                pos = match.end()
                break
            pos = match.end() + 1
        # A trailing initial belongs to the next sentence ("... by Chris A. Next").
        while tokens and _INITIAL.fullmatch(text, *tokens[-1]):
            tokens.pop()
        if not tokens or len(tokens) > 3:
            continue
        start, end = tokens[0][0], tokens[-1][1]
        words = [fold(text[a:b]) for a, b in tokens if not _INITIAL.fullmatch(text, a, b)]
        if " ".join(words) in lists.place_phrases:
            continue  # "I'm from ... / this is New York"
        first = intro.group("first")
        if first is not None and first.lower().startswith("this") and not _INTRO_FOLLOW.match(text, end):
            continue  # "This is Apache Kafka." describes a thing; "this is Wei Zhang from IT" a person
        introducer = "says" if intro.group("says") else "role" if intro.group("role") else intro.group("other") or ""
        if (not out or out[-1][1] <= start) and _plausible_introduced(
            words, first is not None, introducer, text, end, lists
        ):
            out.append((start, end))
    for match in _REPORTED.finditer(text):
        start, end = match.span("name")
        words = [fold(w) for w in match.group("name").split() if not _INITIAL.fullmatch(w)]
        if any(_thing_word(w, lists) for w in words) or not any(
            w in lists.given or w in lists.surnames for w in words
        ):
            continue
        if len(words) == 1 and words[0] in lists.common_words:
            continue
        if not any(a < end and start < b for a, b in out):
            out.append((start, end))
    out.sort()
    return out


# A name followed by what only people do: 'Izumi says', "Tosh Olsen lives at", "Becker wrote".
_REPORTED = re.compile(
    r"(?<![\w'’-])(?P<name>[^\W\d_a-z][^\W\d_A-Z]+(?:[ \t](?:[A-Z]\.?[ \t])?[^\W\d_a-z][^\W\d_A-Z]+){0,2})"
    r"[ \t]+(?:says|said|lives|lived|was\s+born|told|asked|replied|explained|wrote|tweeted|emailed|called\s+me)\b"
)


# Introducers of who did or is to be reached: an unlisted given name before a listed surname will do.
_AGENT_INTRODUCERS = frozenset({"by", "author", "authored by", "contact", "contacted", "cc", "ask"})


def _plausible_introduced(
    words: list[str], first_person: bool, introducer: str, text: str, end: int, lists: NameLists
) -> bool:
    if any(_thing_word(w, lists) for w in words):
        return False
    if len(words) == 1:
        (word,) = words
        title = introducer.rstrip(".").lower() in ("dr", "doctor", "mr", "mrs", "ms", "prof")
        if title or introducer in ("says", "role"):  # "Dr. Okafor", 'says Becker', "Officer Barnes"
            return (word in lists.surnames or word in lists.given) and word not in lists.common_words
        # "Dear Chris", "Thanks, Maria", "I'm Sofia": a given name; "by Chris" alone says too little.
        salutation = first_person or introducer.rstrip(",").lower() in ("hi", "hello", "thanks")
        return salutation and word in lists.given and _NAME_END.match(text, end) is not None
    listed = any(w in lists.given or w in lists.surnames for w in words)
    if introducer == "role":  # "applicant Saira Mendez", "recipient Deepak Malhotra": a listed surname
        return words[-1] in lists.surnames or words[0] in lists.given
    if (
        len(words) == 2
        and words[-1] in lists.surnames
        and introducer.rstrip(":").lower() in _AGENT_INTRODUCERS
        and _NAME_END.match(text, end) is not None
    ):
        return True  # "Escalated by Hansine Geisler; waiting ...": a listed surname ends the name
    if listed and (words[0] in lists.given or first_person or introducer.lower().startswith(("dr", "mr", "ms", "prof"))):
        return True
    return first_person and _NAME_END.match(text, end) is not None
