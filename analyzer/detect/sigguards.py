"""Conditions on signature matches that real benign traffic needs (issue 11: false alarms on real
captures), kept apart from the patterns so that both can change independently.

Each function takes the text after (or around) a match and answers one question a pattern
cannot: is the "command" a product token (``wget/1.14``) or a type value (``nc:websocket``), are
its "arguments" prose (``Nmap Scripting Engine``, ``ftp background``), is a quote the start of a
literal call argument (``string("#04ec...")``), is a "SQL call" a code block (``if(!t){``), is a
path a sensitive file or only a data directory named in a record (``/var/lib/docker/...``).
"""

from __future__ import annotations

import re

# "wget/1.14", "curl/8.5.0": a product and its version (User-Agent grammar), not an invocation.
_PRODUCT_VERSION = re.compile(r"/\d")
# "nc:websocket", "ftp:": a command word joined to a value by a colon is a type or a scheme.
_COLON_VALUE = re.compile(r":[A-Za-z/]")
# Two or more plain words after the command inside a parenthesised comment: the User-Agent
# grammar "(compatible; Nmap Scripting Engine; ...)", "(X11; Linux x86_64)". Outside one, plain
# words are a tool's subcommands ("pip install something", "cscli alerts list").
_PROSE_WORDS = re.compile(r"\s*[A-Za-z]{3,}\s+[A-Za-z]{3,}(?:[\s,.;)]|$)")
# One long plain word and nothing more ("ftp background "): a value that starts with a command
# word and goes on in prose; a command line without a separator needs shell-shaped arguments.
_PROSE_WORD_END = re.compile(r"\s+(?!localhost\b)[A-Za-z]{4,}[\s.!?]*$")  # localhost: a host argument


def not_an_invocation(rest: str) -> bool:
    """The text right after a command word shows it is no command invocation."""
    return bool(_PRODUCT_VERSION.match(rest) or _COLON_VALUE.match(rest))


def prose_arguments(before: str, rest: str) -> bool:
    """Plain words follow the command inside an unclosed parenthesis (a product comment)."""
    return before.rfind("(") > before.rfind(")") and bool(_PROSE_WORDS.match(rest))


def prose_after_start(name: str, rest: str) -> bool:
    """At the start of a value: a plain command word followed by one plain word, then nothing."""
    return name.isalpha() and bool(_PROSE_WORD_END.match(rest))


def code_block_call(match: re.Match[str]) -> bool:
    """A "call" whose closing parenthesis opens a block -- ``if(!t){``, ``function(t){`` -- is
    JavaScript/C/PHP source, never SQL."""
    text, pos, depth = match.string, match.end(), 1
    end = min(len(text), pos + 200)
    while pos < end and depth:
        char = text[pos]
        depth += 1 if char == "(" else -1 if char == ")" else 0
        pos += 1
    return depth == 0 and text[pos : pos + 3].lstrip()[:1] == "{"


def quoted_call_argument(match: re.Match[str]) -> bool:
    """The quote opens a literal argument of a call, closed later before ``)``:
    ``string("#04ec411fa")`` (a selector in a search URL's JSON), not a quote closing a string."""
    text, start = match.string, match.start()
    quote = text[start]
    # Escaped quotes (\") are the same, inside JSON or a JavaScript string.
    if quote not in "'\"`" or text[:start].rstrip("\\ ")[-1:] != "(":
        return False
    close = text.find(quote, start + 1)
    return close > 0 and text[close + 1 : close + 3].lstrip()[:1] == ")"


# Files whose reading is the attack wherever the path appears (credentials, process state,
# the canonical probes); a data directory (``/var/log/``, ``/var/lib/``, ``/home/x/``) named
# in a record is data unless the value also climbs out of a directory or names a file scheme.
_TRAVERSAL = re.compile(r"\.\.[/\\]|\.\.$|%2e%2e|file:", re.IGNORECASE)
_DATA_DIRECTORIES = re.compile(r"[/\\=:'\"\s.]*(?:var/(?:log|www|lib)/|usr/local/etc)", re.IGNORECASE)


def data_directory_only(match: re.Match[str]) -> bool:
    """A sensitive_file match that is only a data directory, with no traversal in the value and
    no hidden file under it (``/var/www/.env``)."""
    if not _DATA_DIRECTORIES.match(match.group(0)):
        return False
    return not _TRAVERSAL.search(match.string) and "/." not in match.string[match.start() :]


# --- filter expressions --------------------------------------------------------------------------
# Many APIs take a small query language in a parameter: OData ``$filter=name eq 'Bob' and age gt
# 30``, range filters ``amount >= 10 and amount <= 500``, JQL ``status = "Open" AND assignee =
# currentUser()``, Stripe and Lucene search ``status:'active' AND metadata['k']:'v'``,
# ``title:"foo" AND -tag:spam``, lists ``sku in ('A1', 'B2')``. Such a value has the
# shape the operator signatures look for, but it is a whole, well-formed expression: every clause
# is ``field op literal`` (or ``function(field, literal)``), every literal is closed. An injection
# breaks out of a literal (an unbalanced quote), compares literals (``1=1``), calls SQL on its
# own (``sleep(5)``) or trails SQL (``;``, ``--``, ``union``): none of those parses.
_FILTER_TOKEN = re.compile(
    r"""\s*(?:(?P<str>'(?:[^'\\]|''|\\.)*'|"(?:[^"\\]|\\.)*")"""
    r"""|(?P<num>-?\d+(?:\.\d+)?(?:-\d\d-\d\d(?:[T ]\d\d:\d\d(?::\d\d(?:\.\d+)?)?(?:Z|[+-]\d\d:?\d\d)?)?)?)(?![\w.])"""
    r"""|(?P<op><=|>=|<>|!=|=|<|>|:)|(?P<punct>[(),]|-(?=[A-Za-z_(]))"""
    r"""|(?P<word>[A-Za-z_][\w.]*(?:\[(?:'[\w.-]+'|"[\w.-]+")\])?\*?))"""
)
_WORD_OPS = frozenset({"eq", "ne", "gt", "ge", "lt", "le", "like", "ilike", "contains", "has"})
_CONNECTIVES = frozenset({"and", "or"})
_LITERAL_WORDS = frozenset({"true", "false", "null"})
# Words that are SQL of their own: never a field or a function of a filter.
_SQL_WORDS = frozenset(
    ["select", "union", "insert", "update", "delete", "drop", "exec", "execute", "sleep", "benchmark", "waitfor", "delay", "pg_sleep", "from", "where", "having", "group", "order", "by", "limit", "offset", "char", "chr", "ascii", "substring", "substr", "mid", "concat", "load_file", "outfile", "dumpfile", "information_schema", "database", "version", "user", "current_user", "system_user", "if", "case", "when", "then", "else", "end", "cast", "convert", "declare", "begin", "xp_cmdshell"]
)
_FILTER_MAX = 512


def _filter_tokens(text: str) -> list[tuple[str, str]] | None:
    tokens: list[tuple[str, str]] = []
    pos, end = 0, len(text.rstrip())
    while pos < end:
        match = _FILTER_TOKEN.match(text, pos)
        if match is None or match.end() == pos:
            return None
        kind = match.lastgroup or ""
        value = match.group(kind)
        if kind == "word" and value.lower() in _SQL_WORDS:
            return None
        tokens.append((kind, value.lower() if kind == "word" else value))
        pos = match.end()
    return tokens


class _FilterParser:
    def __init__(self, tokens: list[tuple[str, str]]) -> None:
        self.tokens, self.i = tokens, 0

    def peek(self, offset: int = 0) -> tuple[str, str]:
        j = self.i + offset
        return self.tokens[j] if j < len(self.tokens) else ("", "")

    def take(self, kind: str, value: str | None = None) -> bool:
        token = self.peek()
        if token[0] == kind and (value is None or token[1] == value):
            self.i += 1
            return True
        return False

    def field(self) -> bool:
        kind, value = self.peek()
        if kind == "word" and value not in _WORD_OPS | _CONNECTIVES | _LITERAL_WORDS | {"not", "in"}:
            self.i += 1
            return True
        return False

    def literal(self) -> bool:
        kind, value = self.peek()
        if kind in ("str", "num") or (kind == "word" and value in _LITERAL_WORDS):
            self.i += 1
            return True
        # a function of no arguments: currentUser(), now()
        if kind == "word" and self.peek(1) == ("punct", "(") and self.peek(2) == ("punct", ")"):
            self.i += 3
            return True
        return False

    def op(self) -> bool:
        kind, value = self.peek()
        if kind == "op" or (kind == "word" and value in _WORD_OPS):
            self.i += 1
            return True
        return False

    def clause(self) -> bool:
        if self.take("word", "not") or self.take("punct", "-"):  # NOT a = 1, Lucene's -label:spam
            return self.clause()
        if self.take("punct", "("):
            return self.expr() and self.take("punct", ")")
        kind, _ = self.peek()
        if kind == "word" and self.peek(1) == ("punct", "("):  # function(field, literal) [op literal]
            self.i += 2
            if not (self.field() and self.take("punct", ",") and self.literal() and self.take("punct", ")")):
                return False
            return not self.op() or self.literal()
        if not self.field():
            return False
        if self.take("word", "in"):  # sku in ('A1', 'B2')
            if not (self.take("punct", "(") and self.literal()):
                return False
            while self.take("punct", ","):
                if not self.literal():
                    return False
            return self.take("punct", ")")
        if self.take("op", ":"):  # search syntax: tag:bar, title:"foo", name:O*
            return self.literal() or self.field()
        return self.op() and self.literal()

    def expr(self) -> bool:
        if not self.clause():
            return False
        while self.peek()[0] == "word" and self.peek()[1] in _CONNECTIVES:
            self.i += 1
            if not self.clause():
                return False
        return True


def filter_expression(text: str) -> bool:
    """The whole value is a well-formed filter expression (see above), with a connective."""
    if len(text) > _FILTER_MAX:
        return False
    tokens = _filter_tokens(text)
    if not tokens or not any(kind == "word" and value in _CONNECTIVES for kind, value in tokens):
        return False
    parser = _FilterParser(tokens)
    return parser.expr() and parser.i == len(tokens)
