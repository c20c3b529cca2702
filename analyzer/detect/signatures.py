"""Injection signatures: one per attack technique, in a registry the injection rule iterates.

A :class:`Signature` is a regex over a normalised form of one value (see ``normalise``), the
injection subtype it proves, and the locations it applies to. Patterns are written for precision
first: each needs the *grammar* of an attack (a quote closing a string and an operator, a command
after a shell separator, a tag with a handler), not a word that also occurs in prose. Fragments
without their context do not fire (issue 11): a lone ``~0`` or ``-->``, ``exec (``, ``collate
foo``, English verbs before a parenthesis (``confirm (by email)``, ``sleep (8 hours)``), a command
line whose only act is flags inside a Referer. The benign look-alikes (``O'Brien``, ``<b>``,
"select one from the list", Markdown, docs paths, help texts) are in
``tests/analyzer/detect/test_injection_benign.py`` and ``test_rules.py``.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path

from analyzer.detect import sigguards

# "agent" is the User-Agent header: tools name themselves there ("curl/8.5.0", "Wget/1.21").
# "referer" is the Referer header and its parameters: the address of the page the user came from.
# "name" is a parameter's (or cookie's, or JSON key's) name rather than its value.
ALL_LOCATIONS = frozenset({"path", "query", "header", "referer", "agent", "cookie", "body", "filename", "name"})
ARGS = frozenset({"query", "body", "cookie"})
NOT_PATH = frozenset({"query", "header", "referer", "agent", "cookie", "body", "name"})
VALUES = frozenset({"path", "query", "cookie", "body", "header", "referer"})
NOT_REFERER = ALL_LOCATIONS - {"referer"}
NOT_PATH_SEGMENTS = ALL_LOCATIONS - {"path"}


@dataclass(frozen=True, slots=True)
class Signature:
    subtype: str
    name: str
    pattern: re.Pattern[str]
    form: str = "plain"  # plain | sql | shell | log4j  (normalise.*_form applied first)
    locations: frozenset[str] = ALL_LOCATIONS
    # A check on the match the regex cannot express (e.g. both sides of "1=1" equal).
    validate: Callable[[re.Match[str]], bool] | None = None
    # Substrings of which every match holds one (see NEEDLES): a text with none of them cannot
    # match, and a substring test costs a fraction of a regex search. Empty: no prefilter.
    needles: tuple[str, ...] = ()

    def search(self, text: str) -> re.Match[str] | None:
        if self.needles and not any(needle in text for needle in self.needles):
            return None
        if self.validate is None:
            return self.pattern.search(text)
        for n, match in enumerate(self.pattern.finditer(text)):
            if self.validate(match):
                return match
            if n >= 8:
                break
        return None


def _sig(
    subtype: str,
    name: str,
    regex: str,
    form: str = "plain",
    locations: frozenset[str] = ALL_LOCATIONS,
    validate: Callable[[re.Match[str]], bool] | None = None,
) -> Signature:
    return Signature(subtype, name, re.compile(regex, re.DOTALL), form, locations, validate)


# --- SQL injection -------------------------------------------------------------------------
# SQL functions an injection calls; words that are also English need the call's shape ("max(",
# "minute (" at the end of a value), not "wait a minute (or two)".
_SQL_FUNC_NAMES = ["abs", "acos", "adddate", "addtime", "aes_decrypt", "aes_encrypt", "array_agg", "ascii", "asin", "atan", "atan2", "avg", "benchmark", "bin", "bit_and", "bit_count", "bit_length", "bit_or", "bit_xor", "cast", "ceil", "ceiling", "char", "char_length", "character_length", "charset", "chr", "coalesce", "coercibility", "collation", "compress", "concat", "concat_ws", "connection_id", "conv", "convert", "convert_tz", "cos", "cot", "count", "crc32", "ctxsys", "curdate", "current_database", "current_date", "current_schema", "current_setting", "current_time", "current_timestamp", "current_user", "curtime", "database", "date", "date_add", "date_format", "date_sub", "datediff", "day", "dayname", "dayofmonth", "dayofweek", "dayofyear", "db_name", "dbms_pipe", "decode", "degrees", "des_decrypt", "des_encrypt", "div", "elt", "encode", "encrypt", "exp", "export_set", "extract", "extractvalue", "floor", "format", "found_rows", "from_base64", "from_days", "from_unixtime", "get_lock", "greatest", "group_concat", "has_dbaccess", "hex", "host_name", "hour", "if", "ifnull", "iif", "in", "inet_aton", "inet_ntoa", "instr", "is_srvrolemember", "isnull", "json_build_object", "json_extract", "json_keys", "last_day", "last_insert_id", "lcase", "least", "length", "ln", "lo_get", "lo_import", "load_file", "load_extension", "local", "localtime", "localtimestamp", "locate", "log", "log10", "log2", "lower", "lpad", "ltrim", "make_set", "makedate", "maketime", "master_pos_wait", "max", "md5", "microsecond", "mid", "min", "minute", "mod", "month", "monthname", "name_const", "now", "nullif", "nvl", "oct", "octet_length", "old_password", "openquery", "openrowset", "ord", "overlay", "password", "pg_ls_dir", "pg_read_file", "pg_sleep", "pi", "pow", "power", "procedure", "quarter", "quote", "radians", "rand", "randomblob", "release_lock", "reverse", "round", "row_count", "rpad", "rtrim", "schema", "sec_to_time", "second", "session_user", "sha", "sha1", "sha2", "sign", "sin", "sleep", "soundex", "sqlite_version", "sqrt", "starts_with", "std", "stddev", "str_to_date", "strcmp", "string_agg", "subdate", "substr", "substring", "substring_index", "subtime", "sum", "suser_name", "suser_sname", "sys_context", "sysdate", "system_user", "tan", "time", "time_format", "time_to_sec", "timediff", "timestamp", "to_base64", "to_char", "to_days", "to_number", "to_seconds", "trim", "ucase", "uncompress", "unhex", "unix_timestamp", "updatexml", "upper", "user", "user_name", "utc_date", "utc_time", "utc_timestamp", "utl_http", "utl_inaddr", "uuid", "values", "var_pop", "var_samp", "replace", "left", "right", "insert", "default", "find_in_set", "variance", "version", "week", "weekday", "weekofyear", "xmltype", "year", "yearweek"]
_ENGLISH_FUNCS = frozenset(
    ["char", "count", "date", "day", "sleep", "decode", "encode", "format", "hour", "if", "in", "local", "log", "max", "min", "minute", "mod", "month", "now", "password", "power", "quarter", "quote", "reverse", "round", "schema", "second", "sign", "sin", "space", "sum", "time", "trim", "user", "values", "week", "year", "convert", "extract", "floor", "cast", "length", "lower", "upper", "position", "degrees", "radians", "exp", "ln", "pi", "rand", "mid", "ord", "field", "least", "greatest", "instr", "locate", "repeat", "left", "right"]
)
_SQL_FUNC_RE = "|".join(sorted(_SQL_FUNC_NAMES, key=len, reverse=True))


def _real_sql_call(match: re.Match[str]) -> bool:
    """English words need a call's shape: no space before "(", or nothing (much) after it."""
    name, gap, rest = match.group(1), match.group(2), match.string[match.end() :]
    if sigguards.code_block_call(match):  # "if(!t){": JavaScript source, not SQL
        return False
    if name not in _ENGLISH_FUNCS:
        return True
    if gap.strip(" ,.;:-"):  # "length||!!$(", "date]=(": that punctuation is not prose's
        return True
    if gap.strip():  # "left, (Lal 1966)": prose punctuation
        return False
    if not gap:
        return not re.match(r"[a-z]{2,}\s+[a-z]{2,}", rest)  # "max(" yes; "if(you want) to" no
    return not rest.strip() or bool(re.match(r"\s*(?:['\"`@]|0x|select\b|\d+\s*[,=)+*-]|\))", rest))


# In the URL path, routers cut at "/": a call closes within its segment ("/sleep(20)/"), and
# "/**/" is path syntax (a glob's any depth: src/**/x), not a comment -- "/benchmark(2999/**/999,
# md5(/" is fragments.
def _closes_in_segment(match: re.Match[str]) -> bool:
    segment = match.string[match.start() :].split("/", 1)[0]
    opened = segment.find("(")
    return opened < 0 or ")" in segment[opened:]


def _real_call_in_segment(match: re.Match[str]) -> bool:
    return _real_sql_call(match) and _closes_in_segment(match)


# What comes before a boolean operator in a chain of comparisons ("x > 3 && y < 2"): code or
# prose about numbers, not an operand broken out of a literal.
_COMPARISON_BEFORE = re.compile(r"[<>]=?\s*[\w.]{1,20}\s*$")


def _not_comparison_chain(match: re.Match[str]) -> bool:
    start = match.start()
    return _COMPARISON_BEFORE.search(match.string[max(0, start - 24) : start + 1]) is None


_CMP_OPS = r"=|<=>|!=|<>|\blike\b|\bis\s+not\b|\bis\b|\bnot\s+like\b|\bnot\s+regexp\b|\brlike\b|\bregexp\b|\bglob\b|\bnot\s+glob\b"


def _tautology(match: re.Match[str]) -> bool:
    """``1=1``, ``'a' like 'a'``, ``11!=1``: true comparisons of literals (``11=1`` is not)."""
    left, op, right = match.group(1).strip("'\"`"), match.group(2), match.group(3).strip("'\"`")
    negated = op in ("!=", "<>") or op.startswith("is not") or op.startswith("not")
    return (left != right) if negated else (left == right)


SQLI = [
    _sig(
        "sqli",
        "tautology",
        r"""(?:^\s*|[,(]\s*|\b(?:or|and|xor|where|having|when|\|\||&&)\s+\(*)('[^']{0,40}'|"[^"]{0,40}"|`[^`]{0,40}`|\d+)\s*("""
        + _CMP_OPS
        + r""")\s*('[^']{0,40}'|"[^"]{0,40}"|`[^`]{0,40}`|\d+)(?![\w.])""",
        "sql",
        validate=_tautology,
    ),
    _sig(
        "sqli",
        "boolean_operator_compare",
        # The left operand must be there: "and = bar" is no SQL (an operator cannot follow a
        # boolean operator), "and ''=" and "or x like" are.
        # A number that is itself the right side of a comparison ("x > 3 && y < 2") is a chain of
        # comparisons in code or prose, not an operand broken out of a literal.
        r"""(?:['"`)]|(?<![<>]\s)(?<![<>])\b\d+)\s*(?:or|and|xor|\|\||&&|div)\s*\(*\s*(?:['"`][\w@$.]*['"`]?|[\w@$.]+['"`]?)\s*"""
        r"""(?:=|<=>|<>|!=|>=|<=|>|<|\blike\b|\brlike\b|\bregexp\b|\bis\b|\bin\b|\bbetween\b|\bsounds\s+like\b)""",
        "sql",
    ),
    _sig("sqli", "chained_operator", r"""(?:^|[\s;(=])(?:&&|\|\||\band\b|\bor\b|\bxor\b|\bdiv\b)\s*\(*\s*[\w@.$]{0,40}\s*(?:={1,3}|!={0,2}|<>|<=?|>=?)\s*(?:['"`(!]|\d|null\b|true\b|false\b|$)""", "sql",
         validate=_not_comparison_chain),
    _sig("sqli", "operator_only", r"""^\s*(?:(?:order|group)\s+by|<>|!=|<=>?|>=|>>|<<|\|\||&&|={2,3}|->>?|xor|(?:is\s+(?:not\s+)?|like\s+)null|notnull|isnull|(?:not\s+)?(?:like|rlike|regexp|glob)|in\s*\(\s*[\d\s,'"-]+\)?)\s*$""", "sql"),
    _sig("sqli", "in_list", r"\bin\s*\(\s*(?:select\b|-?\d+\s*(?:,\s*-?\d+\s*)+\)?)", "sql"),
    _sig("sqli", "quote_operator_quote", r"""['"`]\s*(?:\s(?:or|and|xor)\s|\|\||&&|\+|=|<>|!=)\s*['"`]|\w['"`](?:or|and|xor)['"`]\w|\\['"`]\s*(?:or|and|xor)\b""", "sql"),
    _sig("sqli", "union_select", r"\bunion\b(?:\s+(?:all|distinct))?\s*\(*\s*select\b|unionselect|\bunion\s*\(", "sql"),
    _sig("sqli", "union_all", r"['\d)*]\s*\bunion\s+(?:all|distinct)\b", "sql"),
    # A SELECT after an English word ("use SELECT name FROM users WHERE id = ?") is a sentence
    # about SQL; spliced in, the statement follows a break (a quote, paren, ";", a number) or SQL.
    _sig(
        "sqli",
        "select_from",
        r"(?:^|[^\w\s]|\d|\b(?:union|all|distinct|except|intersect|minus|exists|in|from|as|then|else|or|and|not|where|having|when)\b)\s*select\b\s*(?:top\s+\d+\s+|distinct\s+)?(?:\*|[\w@.`\"\[\]]+\s*(?:,|\(|\bfrom\b\s*[\w.`\"\[\](]+\s*(?:where|limit|order|group|union|having|;|--|#|\)|$)))",
        "sql",
    ),
    # "select <word>" alone counts only after a quote, parenthesis, ";" or "=": as a whole value it
    # is a two-word search ("select team"), not a statement.
    _sig("sqli", "select_literal", r"""(?:^|['"`;(=]\s*)select\s*(?:@@|\d|null\b|char\(|0x|['"(]|\w+\s*\(|pg_sleep|h\b)|['"`;(=]\s*select\s+\w+$""", "sql"),
    _sig(
        "sqli",
        "stacked_query",
        r"""(?:['"`)]\s*|\b\d+\s*|^\s*|\s);\s*(?:drop|delete|insert|update|select|create|alter|exec(?:ute)?|declare|shutdown|truncate|grant|revoke|rename|set|waitfor|if|begin|merge|call|load|copy|handler|use|show|desc|do|replace|backup|restore|kill|dbcc)\b|;\s*(?:#|--)|(?:^|=)\s*;\s*(?:drop|delete|insert|update|select|create|alter|exec|truncate|set\s+@)\b|--\s*(?:alter|drop|select|union|insert|delete|update)\b""",
        "sql",
    ),
    # "sleep" is English ("get more sleep (8 hours)"): with a space before "(" it needs a call's
    # argument (a number closed or operated on, a quote, a nested call).
    _sig("sqli", "time_based", r"""\b(?:pg_sleep|benchmark|randomblob|dbms_pipe\.receive_message|dbms_lock\.sleep)\s*\(|\bsleep\(|\bsleep\s+\(\s*(?:[\d.]+\s*(?:[),*+/-]|\.\w|$)|['"@(]|[a-z_]\w*\s*[(),*+-]|$)|\bselect\s+pg_sleep\b""", "sql", NOT_PATH_SEGMENTS),
    _sig("sqli", "time_based", r"""\b(?:pg_sleep|benchmark|randomblob|dbms_pipe\.receive_message|dbms_lock\.sleep)\s*\(|\bsleep\(|\bsleep\s+\(\s*(?:[\d.]+\s*(?:[),*+/-]|\.\w|$)|['"@(]|[a-z_]\w*\s*[(),*+-]|$)|\bselect\s+pg_sleep\b""", "sql", frozenset({"path"}), validate=_closes_in_segment),
    _sig("sqli", "waitfor", r"\bwaitfor\s+(?:delay|time)\b", "sql"),
    _sig("sqli", "sql_function_call", r"(?<![\w.$-])(" + _SQL_FUNC_RE + r")(\W{0,6}?)\(", "sql", NOT_PATH_SEGMENTS, validate=_real_sql_call),
    _sig("sqli", "sql_function_call", r"(?<![\w.$-])(" + _SQL_FUNC_RE + r")(\W{0,6}?)\(", "sql", frozenset({"path"}), validate=_real_call_in_segment),
    # A comment cuts the rest of the query: "--" ends the value, or a short marker follows it
    # ("-- -", "--+", sqlmap's "-- sqCV"); "'having fun' -- and left" is a dash in prose. A quote
    # after a space and glued to the dashes opens a string (Markdown's `--verbose`).
    _sig("sqli", "quote_comment", r"""(?:(?<!\s)['"`)]|['"`)](?=\s))\s*(?:--(?:[\s+-]*$|\s*[^\s]{1,12}\s*$|[^\n]{0,40}[\r\n])|#|/\*|;\s*%00|;\s*$|;\s*#)""", "plain", validate=lambda m: not sigguards.quoted_call_argument(m)),
    # The quote must be able to close a string: one after a space and before a letter opens one
    # (say "or else", a "like" button), so the keyword after it is inside the string.
    _sig("sqli", "quote_keyword", r"""(?:(?<!\s)['"`]|['"`](?![a-z]))\s*\)*\s*(?:or|and|order|group|having|limit|procedure|into|drop|select|insert|update|delete|create|exec|glob|notnull|isnull|is\s+not|not\s+like|mod|div|sounds\s+like|like|rlike|regexp|except|intersect)(?:\s+|\s*\(|\s*--|\s*#)(?!\s*[=<>])|['"`]\s*\)*\s*;\s*(?:$|--|#|%00)""", "sql"),
    _sig("sqli", "quote_operator_comment", r"""['"`]\s*(?:[|&^<>=/%+*-]|is\s+not|not\s+(?:like|glob|regexp|in|between)|mod|div|sounds\s+like)\s*-?[\w@.]*\s*\??(?:--|#)""", "plain"),
    _sig("sqli", "order_by_number", r"\b(?:order|group)\s+by\s+\d+\s*(?:--|#|/\*|,|\)|;|$|asc|desc)|\bgroup\s+by\s+\w+\s*(?:&|$|having)", "sql"),
    _sig("sqli", "or_number", r"^\s*(?:or|xor|and)\s+(?:\d+|'[^']*')\s*(?:[<>=-]|$)|\b(?:or|xor|and)\s+(?:'[^']*'|\d+)\s*[<>]=?\s*(?:$|['\d])", "sql"),
    _sig("sqli", "having", r"\bhaving\b\s+(?:\d+|[\w(]+\))\s*(?:=|<|>|like)", "sql"),
    _sig("sqli", "db_names", r"\b(?:information_schema|tempdb|msdb|schema_name|pg_catalog|northwind|msysaccessobjects|msysobjects|mysql\.(?:db|user|host)|sysibm|syscat|sysobjects|syscolumns|sysusers|sqlite_master|sqlite_temp_master|pg_shadow|pg_user|pg_database|all_users|dba_users|all_tables|user_tables|v\$version|sys\.(?:databases|tables|objects|columns|sql_logins)|master\.\.sys\w+|msdasql|sqloledb)\b", "sql"),
    _sig("sqli", "into_outfile", r"\binto\s+(?:out|dump)file\b", "sql"),
    _sig("sqli", "ddl_dml", r"\b(?:drop\s+(?:(?:table|database|schema|user|view|function|procedure)\s+(?:if\s+exists\s+)?[\w.`\"\[\]]+\s*(?:$|[;,#(]|--|/\*|cascade\b|restrict\b|purge\b)|\w+\s*(?:;|--|#))|truncate\s+table|alter\s+(?:table|user|database|view|index|function|procedure|schema|session|system|login|role|sequence|trigger|column)\b|create\s+(?:table|user|function|procedure|trigger|database)|insert\s+into\s+[\w`\"\[\].]+\s*(?:\(|values|select)|delete\s+from\s+[\w`\"\[\].]+(?:\s+where|\s*;|\s*$)|update\s+[\w`\"\[\].]+\s+set\s+[\w`\"\[\]]+\s*=|;\s*update\s+\w+|values\s*\(\s*['\"\d].{0,80}?['\"\d]\s*\)|except\s+values\s*\()", "sql"),
    # EXEC is a statement, not a function: its parenthesised form runs a string or a variable
    # ("exec('...')", "exec(@q)"); "exec (" alone is a fragment (PHP's, shell's, an executive's).
    _sig("sqli", "exec_proc", r"\b(?:exec(?:ute)?\s+(?:master\.|xp_|sp_|\(?\s*@)|exec(?:ute)?\s*\(\s*(?:['\"@]|n')|execute\s+immediate|execute\s+\w+$|xp_\w+|sp_(?:password|executesql|makewebtask|oacreate|oamethod|configure|addlogin|addsrvrolemember|execute|prepare|who|helpdb|replwritetovarbin|sqlexec)|openrowset|opendatasource|utl_http|utl_inaddr|nvarchar|varchar\b|dbms_\w+)", "sql"),
    _sig("sqli", "sql_variable", r"(?:@@(?:version|datadir|hostname|basedir|tmpdir|identity|servername|spid|language|rowcount|\w+)|\bsys\.fn_\w+|\bcurrent_setting\s*\(|;\s*set\s+@@?\w|\bset\s+@\w+|\bselect\s+@\w+|\bdeclare\s+@\w+|=\s*@\.\s*=)", "sql"),
    _sig("sqli", "pg_cast", r"(?:[\w)'\"\]]|^)\s*::\s*(?:int|integer|bigint|smallint|text|varchar|char|numeric|double(?:\s+precision)?|float\d?|real|bool(?:ean)?|jsonb?|date|timestamp|regclass|oid|bytea|inet)\b", "sql"),
    _sig("sqli", "json_operator", r"""'\s*(?:::\s*jsonb?\s*)?(?:@>|<@|\?[|&]?|#>>?|#-|->>?|@\?|@@)\s*(?:'|array\s*\[)""", "sql"),
    _sig("sqli", "json_literal_compare", r"""'\s*[{\[].{0,200}?[}\]]\s*'\s*(?:::|@>|<@|\?|#|-|\|\||<|>|=)""", "sql"),
    # "collate" is an English verb: the SQL clause names a collation (an engine's built-in, a
    # charset_collation name, a quoted identifier), not any word ("collate foo" is no SQL).
    _sig("sqli", "match_against", r"""\bmatch\s*\(.{1,200}?\)\s*against\s*\(|\bmerge\s+into\b|\bexecute\s+immediate\b|\bcollate\s+(?:nocase|binary|rtrim|c|posix|default|ucs_basic|unicode|\w+_\w+|u?&?["`'\[])|\bprocedure\s+analyse\b""", "sql"),
    _sig("sqli", "conditional", r"\bcase\s+when\b.{1,200}?\bthen\b|\)\s*when\s+\d+\s+then\b|\bif\s*\(\s*\d+\s*[=<>]|\)\s*like\s*\(|\belse\s+\d+\s+end\b", "sql"),
    # "WHERE id = ?" (or $1, :id) is a bind placeholder: how safe code and its docs write SQL.
    _sig("sqli", "as_from", r"""(?:[)`'"\d!;]|^)\s*as\s*[`'"]?\w*[`'"]?\s*(?:not\s+)?from\b|\bfrom\s+`\w+`|\bfrom\s+\w+\s+(?:where\s+\w+\s*=(?!\s*(?:\?|\$\d|:[a-z_]\w*))|group\s+by)|(?:^|\()\s*load_file\s*\(""", "sql"),
    _sig("sqli", "comment_obfuscation", r"\w/\*.*?\*/\w|/\*!?\+|/\*!\d*|\b(?:drop|select|union|or|and|from|where|insert|delete)\b\s*/\*|\*/\s*(?:from|select|union|where|or|and)\b|^\s*(?:or|and|drop|select)\b[^\n]{0,60}?(?:--|#)\s*$|;\s*--\s*$", "plain", NOT_PATH_SEGMENTS),
    _sig("sqli", "comment_obfuscation", r"/\*!?\+|/\*!\d*|\b(?:drop|select|union|or|and|from|where|insert|delete)\b\s*/\*|\*/\s*(?:from|select|union|where|or|and)\b|^\s*(?:or|and|drop|select)\b[^\n]{0,60}?(?:--|#)\s*$|;\s*--\s*$", "plain", frozenset({"path"})),
    _sig("sqli", "charset_switch", r"\b(?:set\s+names|character\s+set\s+\w+|convert\s*\(.{0,80}\busing\s+\w+)", "sql"),
    _sig("sqli", "auth_bypass", r"""^\s*['"`]?\s*(?:admin|root|administrator|sa|user)\s*['"`]\s*(?:--|#|/\*|\)|;|or\b|and\b|$)|^\s*['"]\s*(?:;|#|--|\|\|)|^\s*['"`]\s*(?:\|\|\s*|(?:or|and)\s+)(?:true|false|1|not)\b""", "sql"),
    # A ";" after the closed call starts a statement (or ends the query): "'id'); ?>" is PHP.
    _sig("sqli", "quote_paren_operator", r"""['"`]\s*\)+\s*(?:or|and|union|;\s*(?:$|--|#|/\*|%00|[a-z@])|\|\||&&|=|<|>|like\b)""", "sql"),
    _sig("sqli", "nosql_operator", r"(?:\[\s*\$(?:ne|eq|gt|gte|lt|lte|regex|where|nin|in|exists|expr|elemmatch|or|and|not|nor|text|all|size|type|mod)\s*\]|\{\s*['\"]?\$(?:ne|gt|gte|lt|lte|regex|where|nin|in|exists|expr|elemmatch|or|and|not|nor|text|all|size|type|mod)['\"]?\s*:|^\s*\$(?:ne|eq|gt|gte|lt|lte|regex|where|nin|in|exists|expr|elemmatch|or|and|not|nor|text|jsonschema|function|accumulator)\s*$|\$where\s*[:=]|\bthis\.\w+\s*(?:==|!=|\.match))", "plain"),
    _sig("sqli", "sql_hex", r"""['"`)\d]\s*(?:or|and|\|\||&&)\s*0x[0-9a-f]{2,}|\bunhex\s*\(|\\0x[0-9a-f]{4,}|\b0x[0-9a-f]{6,}\s*[,)]|\b0x[0-9a-f]{8,}\b.{0,20}\b(?:from|into|select|union)\b""", "sql"),
    _sig("sqli", "like_wildcard_bypass", r"""(?:(?<!\s)['"`]|['"`](?![a-z]))\s*(?:like|rlike|regexp|sounds\s+like|glob)\s*['"`\d]|\blike\s+['"]\s*$|\blike\s+null\b|^\s*['"`][^'"`]*['"`]\s*,\s*\d+\s*$""", "sql"),
    _sig("sqli", "probe", r"""^['"`]\s*(?:[*<>,:\]\[;}\\]|\d+\s*[*/:<>=-]|\d[a-f0-9]*$|\s+['"`]|,)|['"`]\s*\*\s*\d|^['"]:\s*['"\[]?\s*\d|^['"`]\s*[<>]\s*\d|\d['"`]\s+['"`]\s*\d""", "sql"),
    _sig("sqli", "scientific_notation", r"\b\d+\.?e\d*\s*(?:\bunion\b|\bor\b|\band\b|\bfrom\b|[,)(]\s*\w)|\b\d+\.e\.\w+", "sql"),
    _sig("sqli", "integer_overflow", r"\b(?:2\.2250738585072011e-308|0x7fffffff|4294967296|4294967295[0-9]|18446744073709551615|9223372036854775807)\b", "plain"),
    _sig("sqli", "backtick_termination", r"`\s*(?:or|and|\)|--|#|=|regexp|as\b|[<>*])|^\s*`[^`]{1,64}`\s*$|\b\w+`\s*=|^,\s*\w+\"\s*=", "sql"),
    # A quoted number ("cache_buster='556581563'") is how some clients write any value.
    _sig("sqli", "quote_only_query", r"""^\s*['"`](?![\d-]+['"`])[\w-]{1,64}['"`]\s*$""", "plain", frozenset({"query"})),
    _sig("sqli", "string_concat_sql", r"""['"]\s*(?:\|\||\+)\s*(?:\(?\s*select\b|char\(|chr\(|concat|'|")|\|\|\s*this\.""", "sql"),
    _sig("sqli", "sql_bypass_keyword", r"""['"`]\s*(?:alter\s*(?:\w|/)|union\s+(?:all|select|distinct)\b|union\s*\()""", "sql"),
]

# --- cross-site scripting -----------------------------------------------------------------
# Tags that are an attack alone, and tags that are one only with attributes (<svg onload=...>).
_DANGEROUS_TAGS = (
    r"script|iframe|frame|frameset|object|embed|applet|isindex|vmlframe|portal|bgsound|layer|ilayer|noscript|"
    r"f\s+o\s+r\s+m|d\s+i\s+a\s+l\s+o\s+g|s\s*c\s*r\s*i\s*p\s*t"
)
_ATTRIBUTE_TAGS = r"svg|math|meta|base|link|style|form|dialog|marquee|xss|details|video|audio|body|input|img|image"
_SCHEMES = r"(?:j\s*a\s*v\s*a|v\s*b|l\s*i\s*v\s*e|j)\s*s\s*c\s*r\s*i\s*p\s*t|m\s*o\s*c\s*h\s*a"
XSS = [
    _sig("xss", "script_tag", r"<\s*/?\s*(?:\w+\s*:\s*)?script\b|<script[\s>/]"),
    _sig("xss", "dangerous_tag", r"<\s*(?:\w*\s*:\s*)?(?:" + _DANGEROUS_TAGS + r")\b[^<>]*(?:>|$|\s[\w:-]+\s*=|#)"),
    _sig("xss", "tag_with_attributes", r"<\s*(?:\w*\s*:\s*)?(?:" + _ATTRIBUTE_TAGS + r")\b[^<>]*[\s/][\w:-]+\s*/?\s*="),
    _sig("xss", "xml_schema_vector", r"<\w+[^<>]*\bxmlns(?::\w+)?\s*=.{0,300}?\bxsi:schemalocation\s*="),
    # A comment's close is an attack when markup follows it; alone ("-->") it is an arrow.
    _sig("xss", "comment_close", r"-->\s*<!?\w"),
    _sig("xss", "event_handler", r"""(?:<[^<>]*[\s/"']|['"`\s;]|^)on[a-z]{3,40}\s*=\s*(?:['"`]?\s*[\w$.(\[{`'"]|$)"""),
    _sig("xss", "attribute_injection", r"""['"`]\s*(?:formaction|xlink:href|srcdoc|style)\s*=|['"`]\s*in\s*\w+\.\w+\s*=|\bvalueof\s*="""),
    _sig("xss", "tag_with_attribute", r"<\s*[a-z][\w:-]*\b[^<>]*\s(?:src|href|style|action|formaction|background|lowsrc|dynsrc|data|poster|xlink:href|srcdoc|code|pattern|xmlns(?::\w+)?|xsi:\w+)\s*=\s*['\"]?\s*(?:javascript|vbscript|data|livescript|mocha|x\b|#|&|\^|\w+\s*\()"),
    _sig("xss", "js_uri", r"(?:^|[\s'\"=(:`,])(?:" + _SCHEMES + r")\s*:"),
    _sig("xss", "data_uri_html", r"data\s*:\s*(?:text/html|image/svg\+xml|application/x-javascript|text/javascript)\b|data\s*:\s*,\s*<"),
    # alert/prompt/confirm are English: "confirm (by email)" is prose; a call has "(" glued on,
    # or a JavaScript argument (a literal, document, window) after the space.
    _sig("xss", "js_sink", r"(?:\b(?:eval|settimeout|setinterval|execscript|msgbox|btoa|atob)\s*(?:\(|`|\.call|\.apply|\[)|\b(?:alert|prompt|confirm)(?:\(|`|\.call|\.apply|\[|\s+(?:`|\(\s*(?:['\"`\d)\[]|document\b|window\b|this\b|self\b|top\b)))|\(?\s*\bdocument\s*\)?\s*(?:\.|\[\s*['\"])\s*(?:cookie|domain|write|writeln|location|body|createelement|queryselector|getelementbyid|forms|head|documentelement)|\bwindow\s*\.\s*(?:location|name|open)\b|\.innerhtml\b|\.outerhtml\b|\.textcontent\s*=|fromcharcode|\bnew\s+function\s*\(|\bfunction\s*\(\s*\)\s*\{)", "sql", NOT_PATH),
    _sig("xss", "js_global", r"\b(?:window|self|top|parent|frames|globalthis|document)\s*\[\s*['\"`(\w]", "sql", NOT_PATH),
    _sig("xss", "css_expression", r"(?:expression\s*\(|-moz-binding\s*:|behavior\s*:\s*url|@import\b|url\s*\(\s*['\"]?\s*javascript)"),
    _sig("xss", "angular_template", r"\{\{.{0,200}?(?:constructor|\$eval|\$on|alert|\bon\w+|\[\s*['\"]|\d+\s*[*+-]\s*\d+).{0,200}?\}\}"),
    _sig("xss", "jsfuck", r"(?:[\[\]()!+]\s*){12,}|!!\[\]|\[\]\+!|\+!!\["),
    _sig("xss", "tag_close_open", r"""['"`]\s*>\s*<\s*[a-z!/]|-->\s*<\s*[a-z!]|\]\]>\s*<|<!--\s*#\s*(?:exec|include|echo|set|config|printenv)\b"""),
    _sig("xss", "xml_entity", r"<!\s*(?:entity|doctype\s+\w+\s*\[)|!entity\s+%?\s*\w+\s+system\b"),
    _sig("xss", "ie_import", r"<\??\s*import\s*implementation|<\?import\b"),
    _sig("xss", "utf7", r"[+\s]adw-|[+\s]ad4-|[+\s]aci-"),
    _sig("xss", "html_comment_js", r"<!--.{0,100}?(?:script|on\w+\s*=|javascript)"),
    _sig("xss", "js_method_noparen", r"(?:alert|prompt|confirm|eval)\s*`|\.\s*(?:call|apply)\s*`|\$\{\s*(?:alert|eval|prompt|confirm|navigation\.\w+)\s*\}|\breflect\s*\.\s*\w+\s*\.\s*call\b|\.(?:call|apply|bind)\s*\(\s*(?:null|window|this|self|top)\b|\bthrow\s+onerror\b|onerror\s*=\s*(?:alert|eval|prompt)"),
    # "\xbc"/"\xbe" are "<"/">" with the high bit set (US-ASCII read 7-bit): an element in that
    # encoding is one whose closing tag is whole; a lone opening half is Cyrillic or Latin-1 text.
    _sig("xss", "us_ascii_malformed", r"(?:\xbc|1\u20444)\s*[a-z]+[^<>]{0,40}?(?:\xbe|3\u20444).{0,200}?(?:\xbc|1\u20444)\s*/\s*[a-z]+[^\s<>/]{0,2}?(?:\xbe|3\u20444)"),
]

# --- path traversal / local file inclusion ------------------------------------------------
_SENSITIVE_FILES = (
    # A file directly in /etc is the OS's (passwd, shadow, hosts); below it only the system's own
    # directories are -- /etc/myapp/config.yaml in a README is an application's config.
    r"(?:etc/(?:[\w.-]+(?![\w.-]*/)|(?:ssh|ssl|security|pam\.d|sudoers\.d|cron\.\w+|apache2?|httpd|nginx|mysql|php[\d.]*|init\.d|rc\d?\.d|sysconfig|network|default|kubernetes|docker|systemd|ldap|openldap|postfix|samba|x11|xinetd\.d|profile\.d|apt|yum\.repos\.d|letsencrypt|pki|ipsec\.d|ppp|shadow)/)|"
    r"proc/(?:self|\d+|sys|net|version|cpuinfo|meminfo|interrupts|mounts|[a-z]+)\b|sys/(?:class|kernel|devices|block|bus|firmware|module|power)\b|"
    r"(?:windows|winnt)[/\\](?:win\.ini|system\.ini|repair|debug|panther|php\.ini|system32[/\\](?:drivers[/\\]etc|config[/\\]|inetsrv))|boot\.ini|win\.ini|"
    r"\.(?:ht(?:access|passwd|digest)|git/|svn/|hg/|env\b|aws/|ssh/|docker/|kube/|bash_history|zsh_history|mysql_history|npmrc|pgpass|netrc|dockercfg|gnupg/|azure/|config/gcloud)|"
    r"web\.config|wp-config\.php|localsettings\.php|id_rsa\b|id_dsa\b|id_ecdsa\b|id_ed25519\b|authorized_keys\b|"
    r"var/log/|var/www/|var/lib/|usr/local/etc|root/|home/[\w.-]+/\.)"
)
PATH_TRAVERSAL = [
    _sig("path_traversal", "dot_dot_slash", r"(?:^|[/\\=:;'\"\s,])\.{2,}[/\\;]|\.\.(?:0x5c|0x2f)|0x5c0x2e|0x2e0x2e"),
    _sig("path_traversal", "sensitive_file", r"(?:^|[/\\=:'\"\s]|\.\.)" + _SENSITIVE_FILES, validate=lambda m: not sigguards.data_directory_only(m)),
    _sig("path_traversal", "hidden_path", r"(?:^|/)\.(?!well-known\b)[a-z0-9_-][\w.-]*(?:/|$)", "plain", frozenset({"path"})),
    _sig("path_traversal", "restricted_file", r"(?:^|[/=\\])(?:[\w.-]+\.(?:sql|bak|old|backup|dump|sqlite3?|mdb)(?:\.(?:zip|gz|tgz|tar|7z|bz2|rar))?|(?:debug|error|errors|access|php_errors?)\.log|\.(?:aiignore|cursorignore|cursorrules|aider[\w.-]*|claude[\w.-]*|windsurfrules|clinerules))$|^/@(?:fs|id)/|__x00__"),
    _sig("path_traversal", "file_scheme", r"\b(?:file|php|zip|phar|expect|glob|data|compress\.zlib|jar|netdoc):(?://|[/\\a-z]:?|//\w)"),
    _sig("path_traversal", "redirect_file", r"[<>]\s*/(?:tmp|etc|var|dev)/"),
    _sig("path_traversal", "null_byte_ext", r"\x00\.\w{1,5}$|%00\.\w{1,5}$"),
    _sig("path_traversal", "windows_drive", r"(?:^|[=\s'\"])[a-z]:[\\/](?:windows[\\/](?:win\.ini|system\.ini|repair)|boot\.ini|inetpub[\\/])"),
]

# --- OS command injection -----------------------------------------------------------------
def _load_commands() -> tuple[frozenset[str], frozenset[str]]:
    text = (Path(__file__).parent / "data" / "unix_commands.txt").read_text(encoding="utf-8")
    strong, _, english = text.partition("\n[english]")
    words = frozenset(w for line in strong.splitlines() if not line.startswith("#") for w in line.split())
    english_words = frozenset(english.split())
    return words - english_words, english_words


COMMANDS, ENGLISH_COMMANDS = _load_commands()
# Commands that are an attack even alone ("whoami"), or whose names no prose contains. Not busybox:
# alone it runs nothing, and it is the image of many a container ({"Image": "busybox"}).
_BARE_COMMANDS = frozenset(
    ["whoami", "ifconfig", "ipconfig", "uname", "shutdown", "reboot", "poweroff", "systeminfo", "tasklist", "netstat", "htop", "strace", "ltrace", "cpulimit", "crontab", "powershell", "pwsh", "nslookup", "wget", "curl", "netcat", "ncat", "socat", "nmap", "chmod", "chown", "sudo", "visudo", "passwd", "useradd", "usermod", "cscli", "aptitude", "gunzip", "unxz", "bsdtar", "tcpdump", "iptables"]
)
_SHELL_ARGS = re.compile(r"""\s*(?:-{1,2}\w|/|~|\$|[<>|&;`'"(]|\d+\s*[<>]|\S+\.(?:sh|py|pl|rb|php|exe|bat|ps1)\b)""")
# A host argument ("ping 127.0.0.1", "curl example.org"): counts for non-English commands only.
_IP_ARG = re.compile(r"\s*\d{1,3}(?:\.\d{1,3}){3}\b")
_HOST_ARG = re.compile(r"\s*(?:\d{1,3}(?:\.\d{1,3}){3}\b|[a-z0-9-]+(?:\.[a-z0-9-]+)*\.[a-z]{2,}\b)")
# Commands that start no sentence: at the start of a value, with any arguments, a command line.
# Not ftp or ssh: acronyms that start titles ("FTP Background Traffic?"); with a host argument
# they are still command lines.
_START_COMMANDS = frozenset(
    ["ls", "nc", "ncat", "bash", "zsh", "sh", "ksh", "python", "python2", "python3", "perl", "ruby", "php", "node", "powershell", "cmd", "wget", "curl", "nmap", "telnet", "scp", "tftp", "rm", "chmod", "chown", "sudo", "su", "pkill", "ps", "netstat", "ifconfig", "ip", "whoami", "uname", "lastlog"]
)
_VERSIONED = re.compile(r"^([a-z][a-z-]*?)\d+(?:\.\d+)*$")
_PREFIX_WORD = re.compile(r"\b(?:sudo|time|nohup|env|exec|command|builtin|busybox|nice|timeout\s+\d+|strace|ltrace|xargs)\s+[a-z]")
_CMD_TOKEN = re.compile(r"(?:/(?:usr/)?(?:local/)?s?bin/)?([a-z][\w.+-]{0,40})")


_SHELLS = frozenset({"sh", "bash", "zsh", "ksh", "dash", "ash", "csh", "tcsh", "fish"})
_SHELL_C = re.compile(r"\s+-c\s+['\"]?\s*(?:/(?:usr/)?(?:local/)?s?bin/)?([a-z][\w.+-]{0,40})")
_FLAG_LATER = re.compile(r"^[^;|&\n]{0,60}?\s-{1,2}[a-z][\w-]*(?:\s|=|$)|^[^;|&\n]{0,60}?\s\w+=/")


def _command_shape(name: str, rest: str, after_separator: bool, prefixed: bool = False, at_start: bool = False) -> bool:
    """Is ``name rest`` a command line (a known command with arguments that look like a shell's)?"""
    if name not in COMMANDS and name.rstrip(".+") != name:
        rest = name[len(name.rstrip(".+")) :].replace("+", " ") + rest
        name = name.rstrip(".+")
    if sigguards.not_an_invocation(rest):  # "wget/1.14", "nc:websocket"
        return False
    versioned = _VERSIONED.match(name)
    if versioned is not None and name not in COMMANDS and versioned.group(1) in COMMANDS:
        name = versioned.group(1)  # python3.10, gcc10.1
    english = name in ENGLISH_COMMANDS
    if not english and name not in COMMANDS:
        return False
    if prefixed:  # "time who", "nohup sh ...": a command after a command prefix
        return True
    if name in _SHELLS:
        inner = _SHELL_C.match(rest)
        if inner is not None:  # "bash -c 'echo test'" runs echo: the evidence is the command it runs
            return _command_shape(inner.group(1), rest[inner.end() :], True)
    if rest.startswith("(") and not rest.startswith("()"):  # print(item), test(x): a call in code, not a shell's
        return False
    args = rest.lstrip(" \t")
    if not args or args[0] in "\n\r;|&`)":
        if english:
            return after_separator and at_start  # ";who" as a whole value
        return after_separator or name in _BARE_COMMANDS or "-" in name or name.endswith(".exe")
    if _SHELL_ARGS.match(rest) or _FLAG_LATER.match(rest):
        return True
    if not english and (name in _START_COMMANDS or _HOST_ARG.match(rest)):
        return True
    if english and after_separator and _IP_ARG.match(rest):  # "; ping 10.0.0.1", not "ping 127.0.0.1 to test"
        return True
    following = _CMD_TOKEN.match(args)
    if following is not None and following.group(1) in COMMANDS:
        return True
    if not english and (name in _BARE_COMMANDS or "-" in name or name.endswith(".exe")):
        return True
    return after_separator and not english and len(name) >= 3


def _command_after_separator(match: re.Match[str]) -> bool:
    at_start = not match.string[: match.start()].strip()
    if sigguards.prose_arguments(match.string[: match.start()], match.string[match.end() :]):
        return False  # "(compatible; Nmap Scripting Engine; ...)": a User-Agent comment
    return _command_shape(match.group(1), match.string[match.end() :], True, bool(_PREFIX_WORD.search(match.group(0))), at_start)


# The Referer is the address of the page the user came from: its slugs and the search terms in
# it are what people write ("linux;ls -al meaning"), and ";" is URL syntax (path parameters). So a
# command inside it needs what a command line acts on -- a file path, an address, a redirect, a
# pipe or another command; a Referer that is itself a command line (";env") is crafted.
_ACTS_ON = re.compile(r"(?:^|[\s+=])(?:[/~]|\.\.?/|\d{1,3}(?:\.\d{1,3}){3}\b|[a-z]+://)|[<>|&;`$]")


def _command_in_referer(match: re.Match[str]) -> bool:
    if not _command_after_separator(match):
        return False
    if not match.string[: match.start()].strip():
        return True
    return _ACTS_ON.search(" " + match.string[match.end() :]) is not None


_HTTP_CLIENTS = frozenset({"wget", "curl", "w3m", "lynx", "elinks", "links", "aria2c", "httpie", "fetch", "python", "perl", "ruby", "php", "node", "java", "go"})


def _agent_command(match: re.Match[str]) -> bool:
    """A User-Agent that is a command line; HTTP clients naming themselves bare are not."""
    name, rest = match.group(1), match.string[match.end() :]
    if not rest.strip() and name in _HTTP_CLIENTS:
        return False
    return _command_shape(name, rest, False, bool(_PREFIX_WORD.search(match.group(0))))


def _command_at_start(match: re.Match[str]) -> bool:
    rest = match.string[match.end() :]
    if sigguards.prose_after_start(match.group(1), rest):  # "ftp background": a subject line, no command line
        return False
    return _command_shape(match.group(1), rest, False, bool(_PREFIX_WORD.search(match.group(0))))


def _substituted_command(match: re.Match[str]) -> bool:
    """``$(...)``/backticks around a command line -- not Markdown code such as `make test`."""
    inner = next((g for g in match.groups() if g is not None), "")
    if match.group(0).startswith("$"):
        return True  # $(...) is shell syntax, not prose
    token = _CMD_TOKEN.match(inner.strip())
    if token is None:
        return False
    return _command_shape(token.group(1), inner.strip()[token.end() :], False) and (
        token.group(1) not in ENGLISH_COMMANDS or bool(_SHELL_ARGS.match(inner.strip()[token.end() :]))
    )


def _assigned_variable(match: re.Match[str]) -> bool:
    return re.search(r"(?:^|[;&|\s])" + re.escape(match.group(1)) + r"=", match.string[: match.start()]) is not None


def _escaped_command(match: re.Match[str]) -> bool:
    return match.group(1) in COMMANDS


_PREFIX = r"(?:(?:sudo|time|nohup|env|exec|command|builtin|busybox|nice|timeout\s+\d+|strace|ltrace|xargs)\s+)*"
_SEP = r"(?:[;|&\n\r`]|\|\||&&|\$\(|\$\{|<\(|>\()\s*(?:(?:then|do|else)\s+)?"
CMD_INJECTION = [
    _sig("cmd_injection", "separator_command", _SEP + r"[\s+]*" + _PREFIX + r"(?:/(?:usr/)?(?:local/)?s?bin/)?([a-z][\w.+-]{0,40})", "shell", NOT_REFERER, validate=_command_after_separator),
    _sig("cmd_injection", "separator_command", _SEP + r"[\s+]*" + _PREFIX + r"(?:/(?:usr/)?(?:local/)?s?bin/)?([a-z][\w.+-]{0,40})", "shell", frozenset({"referer"}), validate=_command_in_referer),
    # Not in User-Agent (tools name themselves: "curl/8.5.0") nor in parameter names.
    # A User-Agent that is a command line, not a product token ("curl/8.5.0") or a bare name.
    _sig("cmd_injection", "agent_command", r"^\s*['\"]?\s*(?:\w+=)?(?![\w.-]+/\d)" + _PREFIX + r"([a-z][\w.+-]{0,40})['\"]?(?=\s+\S|\s*$)", "shell", frozenset({"agent"}), validate=_agent_command),
    _sig("cmd_injection", "command_line", r"^\s*['\"]?\s*" + _PREFIX + r"(?:/(?:usr/)?(?:local/)?s?bin/)?([a-z][\w.+-]{0,40})", "shell", VALUES, validate=_command_at_start),
    _sig("cmd_injection", "abs_binary", r"(?:^|[\s;|&`(=])/?(?:usr/)?(?:local/)?s?bin/[a-z]\w+", "shell"),
    _sig("cmd_injection", "shell_expansion", r"\$\[[^\]]{0,40}\]|\$\{\s*`[^`]+`\s*\}|[<>]\(\s*[a-z][\w.-]*[^)]{0,80}\)|(?:[;|&]|^)\s*\$\{?[a-z_]\w*\}?\s+-{1,2}\w|\|\s*(?:ba|z|k|da)?sh\b\s*(?:$|#|;|`)", "plain"),
    _sig("cmd_injection", "command_substitution", r"\$\(\s*([^()]{1,200})\)|`\s*([^`]{1,200})`|\$\(\((.{0,100})\)\)", "plain", validate=_substituted_command),
    # An empty substitution inside a word ("pi$()ng", "ping`` 10.0.0.1") expands to nothing: only a
    # filter evasion writes one (Markdown's ``code`` has its backticks outside the word).
    _sig("cmd_injection", "empty_substitution", r"\w(?:\$\(\)|<\(\)|>\(\))|(?:\$\(\)|<\(\)|>\(\))\w|\w``\w|^\s*[a-z]+``\s", "plain"),
    # "\\ls": a backslash before a command name skips its alias -- an evasion; nobody writes it.
    _sig("cmd_injection", "escaped_command", r"(?:^|[;|&\n`(])\s*\\([a-z][\w.-]{1,40})(?=\s|$|[;|&)])", "plain", validate=_escaped_command),
    # A variable the value itself assigned, in a command's place ("c=cat&&$c $a$b",
    # "c1=c;c2=a;c3=t;$c1$c2$c3"): a command assembled so that its name never appears. (";$a $b"
    # with nothing assigned expands to nothing.)
    _sig("cmd_injection", "assembled_command", r"(?:[;|&\n`]|^)\s*\$\{?([a-z_]\w{0,20})\}?(?:\s+[\w$/]|\$)", "plain", validate=_assigned_variable),
    _sig("cmd_injection", "shellshock", r"^\s*\(\s*\)\s*\{"),
    _sig("cmd_injection", "fork_bomb", r"(\w+|:)\s*\(\s*\)\s*\{\s*\1\s*\|\s*\1\s*&\s*\}\s*;|\bfork\s*\(\s*\)\s*while|%0\|%0|\.\s*\{\s*\.\s*\|\s*\.\s*&\s*\}"),
    _sig("cmd_injection", "wildcard_path", r"/[?*\[\]\w]{0,4}[?*][?*\[\]\w]{0,4}/[?*\[\]\w]*[?*][?*\[\]\w]*|/\w*\[!?[\w/-]+\]\w", "plain"),
    _sig("cmd_injection", "brace_expansion", r"\{\s*[\w./$\"'#-]*\s*,\s*[\w./$\"'#-]*[/.$\"'#-][\w./$\"'#-]*\s*,?\s*\}|\{\s*,\s*[\w$\"'#.-]+\s*,|\{\s*[a-z][\w.-]*\s*,\s*[\w./-]+\s*\}|\{\s*,?\s*[a-z][\w-]*\s*,\s*\}|\{\s*,\s*[a-z][\w-]*\s*\}"),
    # "~+", "~-2": the directory stack, nothing else writes that as a whole value; "~0", "~5" (about
    # nought, about five) and a bare "~" are what people write.
    _sig("cmd_injection", "tilde_expansion", r"^\s*~[+-]\d*\s*$"),
    _sig("cmd_injection", "redirect_sensitive", r"(?:>|>>|<)\s*/(?:dev/(?:tcp|udp)/|tmp/|etc/|var/)|\d+\s*>\s*\$\w+"),
    _sig("cmd_injection", "alias", r"\balias\s+(?:[+-]\w+\+?\s+)*['\"]?[\w.+-]+['\"]?\s*=", "plain"),
    _sig("cmd_injection", "shell_variable", r"\$\{(?:cmd|shell|ifs|path|home|user|command|exec|bash|sh|\w+\.\w+)\}|\$\{?(?:shell|ifs|bash_version|ps1|ld_preload)\b\}?|\$\{[^}]{0,40}(?:::|:-|#|%|/)[^}]{0,40}\}", "plain"),
    _sig("cmd_injection", "windows_cmd", r"\b(?:cmd(?:\.exe)?\s*/[ck]\b|powershell(?:\.exe)?\s+-|pwsh\s+-|start\s+/b\b|certutil(?:\.exe)?\s+-|bitsadmin\s+/|net\s+(?:user|localgroup|view|use|share)\b|reg\s+(?:add|query|delete)\b|wmic\s+\w+|rundll32(?:\.exe)?\s+\w+|regsvr32\s+/|mshta\s+\w+|schtasks\s+/|regedit\s+/|bcdboot\s|bcdedit\s)", "shell"),
    _sig("cmd_injection", "windows_batch", r"\bfor\s+(?:/\w+\s+|\"[^\"]*\"\s+|[^\s%]+\s+){0,4}%%?\S*\s+in\s*\(.{0,300}?\)\s*do\b|\bif\s+(?:/i\s+)?(?:not\s+)?(?:exist\s|defined\s|errorlevel\s|cmdextversion\s|%[\w~]+%|\"[^\"]*\"\s*(?:==|equ\b|neq\b|lss\b|leq\b|gtr\b|geq\b)|\[[^\]]*\]\s*==|\(?[\w%~]+\)?\s*(?:==|equ\b|neq\b|lss\b|leq\b|gtr\b|geq\b))", "plain"),
    _sig("cmd_injection", "powershell_cmdlet", r"\b(?:invoke-(?:expression|webrequest|command|restmethod|item|wmimethod|shellcode|mimikatz)|iex\s*\(|iwr\s+|new-object\s+(?:-\w+\s+)?(?:system\.net|net\.webclient|io\.)|downloadstring\s*\(|downloadfile\s*\(|start-process|get-(?:process|childitem|content|wmiobject|itemproperty|service|acl)|set-(?:content|executionpolicy|itemproperty)|out-file|-encodedcommand|-enc\s+[a-z0-9+/=]{8,}|\[system\.(?:convert|text|reflection|io)\.)", "shell"),
    _sig("cmd_injection", "windows_sep_cmd", r"(?:[&|]|\r|\n)\s*(?:dir|type|copy|del|ren|move|echo|set|net|ping|ipconfig|systeminfo|tasklist|whoami|ver|hostname|nslookup|certutil|cmd|powershell|wmic|reg|sc|bitsadmin|attrib|cacls|icacls|findstr|start|call|schtasks|runas|taskkill|regedit|bcdboot)(?:\.exe)?\b", "shell"),
    _sig("cmd_injection", "reverse_shell", r"/dev/(?:tcp|udp)/|\bnc\s+(?:-\w+\s+)*[\w.]+\s+\d+|\bbash\s+-i\b|\bsh\s+-i\b|\bmkfifo\b|\bsocat\s+\w+|\bexec\s+\d+<>|\bpython[23]?\s+-c\s|\bperl\s+-e\s|\bruby\s+-e\s|\bphp\s+-r\s|\blua\s+-e\s|\bnode\s+-e\s", "shell"),
    _sig("cmd_injection", "download_exec", r"\b(?:wget|curl|fetch|tftp|lwp-download)\s+(?:-\w+\s+)*(?:https?|ftp|tftp)://|\b(?:wget|curl)\b[^|;&]{0,200}\|\s*(?:ba|z|k|da)?sh\b", "shell"),
    _sig("cmd_injection", "history_invocation", r"(?:^|[;|&\s])!(?:-?\d+|!|\$|\?\w+\??)(?:\s|$|[;|&!])|\bfc\s+-\w"),
    _sig("cmd_injection", "sqlite_cmd", r"^\s*\.(?:system|shell|import|output|load|once)\b|(?:[;\n]|^)\s*\.\\?['\"]?(?:system|shell|sh|databases|tables|dump|import)\b"),
    _sig("cmd_injection", "mail_cmd", r"(?:[\r\n]|^)\s*(?:rcpt\s+to\s*:|mail\s+from\s*:|helo\s+[\w.-]+\s*$|ehlo\s+[\w.-]+\s*$|vrfy\s+\S|expn\s+\S|starttls\s*$|quit\s*$|auth\s+\w+(?:\s+\S+)?\s*$)|[\r\n]\s*[a-z]?\d{1,6}\s+(?:login|select|examine|fetch|store|copy|uid|list|lsub|create|delete|rename|append|capability|logout|authenticate|status|search|noop|check|close|expunge|subscribe|unsubscribe)\b|[\r\n]\s*(?:user|pass|retr|dele|rset|stat|uidl|top|apop|list)\s+\S|[\r\n]\s*(?:data|quit|noop|rset|turn|help(?:\s+\w+)?)\s*(?:$|[\r\n])|[\r\n]\s*[a-z]\w{0,6}\s+(?:store|quit|noop|logout|expunge)\b", "plain"),
    _sig("cmd_injection", "windows_env", r"%(?:comspec|systemroot|windir|programfiles|appdata|temp|tmp|userprofile|allusersprofile|computername|username|homepath|systemdrive|public|psmodulepath)%", "plain"),
    _sig("cmd_injection", "restricted_upload", r"\.\s*(?:sh|bash|zsh|csh|ksh|bat|cmd|ps1|psm1|vbs|exe|dll|msi|scr|com|pif|jsp|jspx|asp|aspx|cer|asa|php\d?|phtml|pl|cgi|py|rb)\s*$|^\.(?:bashrc|bash_profile|profile|zshrc|cshrc|tcshrc|login|logout|exrc|vimrc|viminfo|bash_logout|inputrc|wgetrc|curlrc|netrc|gitconfig|npmrc|htaccess|user\.ini|boto|s3cfg|pgpass|my\.cnf)\s*$|^(?:wp-config|settings|local_?settings|configuration|database)[\w. -]*$|^config\.ya?ml\s*$|^(?:mtrr|acpi|kcore|kallsyms|passwd|shadow|sudoers|crontab|authorized_keys)$", "plain", frozenset({"filename"})),
]

# --- server-side request forgery ----------------------------------------------------------
SSRF = [
    _sig("ssrf", "metadata_host", r"(?:^|[/@=\s'\"])(?:169\.254\.169\.254|169\.254\.170\.2|fd00:ec2::254|metadata\.google\.internal|metadata\.azure\.com|100\.100\.100\.200|instance-data(?:\.ec2\.internal)?)(?::\d+)?(?:[/?#]|$)", "plain", ARGS),
    _sig("ssrf", "dangerous_scheme", r"^\s*(?:gopher|dict|ldap|ldaps|tftp|jar|netdoc|sftp|telnet|file)://", "plain", ARGS),
    _sig(
        "ssrf",
        "internal_url",
        r"^\s*(?:https?|ftp|ws|wss)://(?:[^/@\s]*@)?(?:localhost|127(?:\.\d{1,3}){3}|0\.0\.0\.0|0+(?::|/|$)|\[(?:0*:)*:?0*1\]|\[::\]|\[::ffff:[0-9a-f.:]+\]|10(?:\.\d{1,3}){3}|192\.168(?:\.\d{1,3}){2}|172\.(?:1[6-9]|2\d|3[01])(?:\.\d{1,3}){2}|\d{8,10}|0x[0-9a-f]{8}|0[0-7]{1,4}(?:\.0[0-7]{0,4}){0,3}|[\w.-]+\.(?:internal|local|localhost|localdomain|lan|intranet|corp|svc\.cluster\.local)|kubernetes\.default(?:\.svc)?|(?:\d{1,3}\.){3}\d{1,3}\.(?:nip|xip|sslip)\.io)(?::\d+)?(?:[/?#]|$)",
        "plain",
        ARGS,
    ),
]

# --- JNDI / Log4Shell ---------------------------------------------------------------------
JNDI = [
    _sig("jndi", "jndi_lookup", r"\$\{\s*jndi\s*:", "log4j"),
    _sig("jndi", "jndi_scheme", r"\bjndi\s*:\s*(?:ldaps?|rmi|dns|iiop|corba|nds|nis|https?)\s*:", "log4j"),
    _sig("jndi", "log4j_lookup", r"\$\{\s*(?:env|sys|ctx|main|map|sd|java|marker|bundle|spring|k8s|docker|log4j|web|event|lower|upper|date|base64|jvmrunargs|::-)\s*:[^}]{0,200}\}", "log4j"),
    _sig("jndi", "nested_lookup", r"\$\{[^{}]{0,40}\$\{[^{}]{0,80}\}"),
]

# Prefilter: for each signature named here, substrings of which any text it matches (after its
# form's normalisation, lower-cased) contains one -- read off the regex, every alternative
# included. Only a speed-up: the verdicts are the regexes' (bench/crs_bench.py's cases and the
# unit tests run with and without it alike).
_QUOTES = ("'", '"', "`")
NEEDLES: dict[tuple[str, str], tuple[str, ...]] = {
    ("sqli", "union_select"): ("union",),
    ("sqli", "union_all"): ("union",),
    ("sqli", "time_based"): ("sleep", "benchmark", "randomblob", "dbms_"),
    ("sqli", "waitfor"): ("waitfor",),
    ("sqli", "into_outfile"): ("into",),
    ("sqli", "pg_cast"): ("::",),
    ("sqli", "json_operator"): ("'",),
    ("sqli", "json_literal_compare"): ("'",),
    ("sqli", "match_against"): ("match", "merge", "execute", "collate", "procedure"),
    ("sqli", "conditional"): ("when", "if", "like", "else"),
    ("sqli", "charset_switch"): ("names", "character", "convert"),
    ("sqli", "nosql_operator"): ("$", "this."),
    ("sqli", "sql_hex"): ("0x", "unhex"),
    ("sqli", "integer_overflow"): ("2.2250738585072011e-308", "0x7fffffff", "429496729", "18446744073709551615", "9223372036854775807"),
    ("sqli", "backtick_termination"): ("`", '"'),
    ("sqli", "quote_only_query"): _QUOTES,
    ("sqli", "string_concat_sql"): ("'", '"', "||"),
    ("sqli", "sql_bypass_keyword"): _QUOTES,
    ("sqli", "quote_operator_quote"): _QUOTES,
    ("sqli", "quote_keyword"): _QUOTES,
    ("sqli", "quote_operator_comment"): _QUOTES,
    ("sqli", "quote_paren_operator"): _QUOTES,
    ("sqli", "quote_comment"): (*_QUOTES, ")"),
    ("sqli", "like_wildcard_bypass"): ("like", "regexp", "glob", "'", '"', "`"),
    ("sqli", "probe"): _QUOTES,
    ("sqli", "having"): ("having",),
    ("sqli", "in_list"): ("in",),
    ("xss", "script_tag"): ("<",),
    ("xss", "dangerous_tag"): ("<",),
    ("xss", "tag_with_attributes"): ("<",),
    ("xss", "xml_schema_vector"): ("<",),
    ("xss", "comment_close"): ("-->",),
    ("xss", "tag_with_attribute"): ("<",),
    ("xss", "tag_close_open"): ("<",),
    ("xss", "xml_entity"): ("<", "!"),
    ("xss", "ie_import"): ("<",),
    ("xss", "html_comment_js"): ("<!--",),
    ("xss", "utf7"): ("adw-", "ad4-", "aci-"),
    ("xss", "us_ascii_malformed"): ("\xbc", "1\u20444"),
    ("xss", "angular_template"): ("{{",),
    ("xss", "css_expression"): ("expression", "-moz-binding", "behavior", "@import", "url"),
    ("xss", "data_uri_html"): ("data",),
    ("xss", "js_uri"): (":",),
    ("xss", "event_handler"): ("=",),
    ("xss", "attribute_injection"): ("=",),
    ("xss", "jsfuck"): ("[", "]", "(", ")", "!", "+"),
    ("path_traversal", "dot_dot_slash"): ("..", "0x"),
    ("path_traversal", "file_scheme"): (":",),
    ("path_traversal", "redirect_file"): ("<", ">"),
    ("path_traversal", "null_byte_ext"): ("\x00", "%00"),
    ("path_traversal", "windows_drive"): (":",),
    ("path_traversal", "hidden_path"): (".",),
    ("cmd_injection", "shellshock"): ("(",),
    ("cmd_injection", "fork_bomb"): ("(", "%0|%0", "{"),
    ("cmd_injection", "wildcard_path"): ("?", "*", "["),
    ("cmd_injection", "brace_expansion"): ("{",),
    ("cmd_injection", "tilde_expansion"): ("~",),
    ("cmd_injection", "redirect_sensitive"): ("<", ">"),
    ("cmd_injection", "alias"): ("alias",),
    ("cmd_injection", "shell_variable"): ("$",),
    ("cmd_injection", "windows_env"): ("%",),
    ("cmd_injection", "empty_substitution"): ("$()", "<()", ">()", "``"),
    ("cmd_injection", "assembled_command"): ("$",),
    ("cmd_injection", "escaped_command"): ("\\",),
    ("cmd_injection", "command_substitution"): ("$(", "`"),
    ("cmd_injection", "shell_expansion"): ("$", "<(", ">(", "|"),
    ("cmd_injection", "sqlite_cmd"): (".",),
    ("cmd_injection", "history_invocation"): ("!", "fc"),
    ("cmd_injection", "restricted_upload"): (".", "wp-config", "settings", "configuration", "database", "config", "mtrr", "acpi", "kcore", "kallsyms", "passwd", "shadow", "sudoers", "crontab", "authorized_keys"),
    ("jndi", "jndi_lookup"): ("${",),
    ("jndi", "jndi_scheme"): ("jndi",),
    ("jndi", "log4j_lookup"): ("${",),
    ("jndi", "nested_lookup"): ("${",),
}


def _with_needles(sig: Signature) -> Signature:
    needles = NEEDLES.get((sig.subtype, sig.name))
    return sig if needles is None else replace(sig, needles=needles)


REGISTRY: tuple[Signature, ...] = tuple(_with_needles(sig) for sig in (*SQLI, *XSS, *PATH_TRAVERSAL, *CMD_INJECTION, *SSRF, *JNDI))
SUBTYPES = ("sqli", "xss", "path_traversal", "cmd_injection", "ssrf", "jndi")
