"""A corpus of hostile ``--payload`` texts, each with the exit code and the words the
CLI must answer with. Data only: tests/surfaces/test_payload_corpus.py runs it
through ``plan``, ``fan-out`` and the action entry.

A case is ``(id, text, exit_code, fragment)``. Exit 0 cases are payloads tako
accepts; exit 2 cases are refused before anything is sent, with ``fragment`` in the
one ``error:`` line (for tako's own checks: line, column and path, exactly).
"""

from __future__ import annotations

from typing import NamedTuple


class Case(NamedTuple):
    id: str
    text: str
    exit_code: int
    fragment: str


OK = "plan: library_built"
SYNTAX = "not valid JSON"
CASES: list[Case] = []


def add(case_id: str, text: str, exit_code: int, fragment: str) -> None:
    CASES.append(Case(case_id, text, exit_code, fragment))


# ---------------------------------------------------------------- NaN and Infinity
_PLACES = [
    ("top", '{{"a": {t}}}', "line 1 column 7 ($.a)"),
    ("array", '{{"a": [1, 2, {t}]}}', "line 1 column 14 ($.a[2])"),
    ("nested", '{{"a": {{"b": {{"c d": {t}}}}}}}', 'line 1 column 21 ($.a.b["c d"])'),
    ("lines", '{{\n  "a":\n    [\n      {t}\n    ]\n}}', "line 4 column 7 ($.a[0])"),
]
for token in ("NaN", "Infinity", "-Infinity", "+Infinity"):
    for where, template, spot in _PLACES:
        add(f"{token}-{where}", template.format(t=token), 2,
            f"{spot}: {token} is not JSON (GitHub's JSON has no NaN or Infinity)")

# ---------------------------------------------------------------- nesting
for depth in (65, 100, 1000, 100_000):
    add(f"arrays-{depth}", '{"a":' + "[" * depth + "]" * depth + "}", 2,
        "line 1 column 69 ($.a[0][0]…58 more…[0][0][0]): nested deeper than 64 levels")
    add(f"objects-{depth}", '{"a":' + '{"b":' * depth + "1" + "}" * depth + "}", 2,
        "nested deeper than 64 levels")
add("arrays-unclosed-100000", "[" * 100_000, 2, "line 1 column 65")
add("mixed-deep", '{"a": ' + '[{"k": ' * 40 + "1" + "}]" * 40 + "}", 2,
    "nested deeper than 64 levels")
add("deep-after-valid-lines", '{"ok": 1,\n "x":\n' + "[" * 70 + "]" * 70 + "}", 2,
    "line 3 column 64 ($.x[0][0]…58 more…[0][0][0]): nested deeper than 64 levels")
add("deepest-allowed", '{"a":' + "[" * 63 + "]" * 63 + "}", 0, OK)
add("one-too-deep", '{"a":' + "[" * 64 + "]" * 64 + "}", 2, "nested deeper than 64 levels")

# ---------------------------------------------------------------- numbers
for digits in (65, 100, 1000, 5000, 100_000):
    add(f"int-{digits}-digits", '{"n": ' + "9" * digits + "}", 2,
        f"line 1 column 7 ($.n): a number of {digits:,} characters; at most 64")
add("negative-5000-digits", '{"n": -' + "1" * 5000 + "}", 2, "a number of 5,001 characters")
add("fraction-100-digits", '{"n": 0.' + "3" * 100 + "}", 2, "a number of 102 characters")
add("exponent-5000-digits", '{"n": 1e' + "9" * 5000 + "}", 2, "a number of 5,002 characters")
add("in-array-5000", '{"v": [1, 2, ' + "8" * 5000 + "]}", 2,
    "line 1 column 14 ($.v[2]): a number of 5,000")
for text in ("1e999", "-1e999", "1E+400", "1e309", "2e308", "0.1e400", "123.456e789"):
    add(f"infinite-{text}", f'{{"n": {text}}}', 2,
        f"line 1 column 7 ($.n): {text} is too large for a JSON number")
add("max-int-digits", '{"n": ' + "9" * 64 + "}", 0, OK)
add("max-float", '{"n": 1.7976931348623157e308}', 0, OK)
add("underflow-is-zero", '{"n": 1e-400}', 0, OK)
add("negative-zero", '{"n": -0.0, "m": -0}', 0, OK)
add("subnormal", '{"n": 5e-324}', 0, OK)
add("int64-edges", '{"min": -9223372036854775808, "max": 18446744073709551615}', 0, OK)

# ---------------------------------------------------------------- not JSON at all
for case_id, text in [
    ("trailing-comma-object", '{"a": 1,}'),
    ("trailing-comma-array", '{"a": [1,]}'),
    ("single-quotes", "{'a': 1}"),
    ("unquoted-key", "{a: 1}"),
    ("json5", "{a: 1, b: 'x',}"),
    ("line-comment", '{"a": 1} // note'),
    ("block-comment", '{/* c */ "a": 1}'),
    ("hash-comment", '# payload\n{"a": 1}'),
    ("hex", '{"a": 0x10}'),
    ("octal-ish", '{"a": 017}'),
    ("plus-sign", '{"a": +1}'),
    ("leading-dot", '{"a": .5}'),
    ("trailing-dot", '{"a": 1.}'),
    ("dot-exponent", '{"a": 1.e5}'),
    ("lone-minus", '{"a": -}'),
    ("double-minus", '{"a": --1}'),
    ("undefined", '{"a": undefined}'),
    ("python-none", '{"a": None}'),
    ("python-true", '{"a": True}'),
    ("lowercase-nan", '{"a": nan}'),
    ("inf", '{"a": inf}'),
    ("empty", ""),
    ("whitespace", "  \n\t "),
    ("open-brace", "{"),
    ("unterminated-string", '{"a": "abc'),
    ("raw-control-char", '{"a": "x\x01y"}'),
    ("raw-tab", '{"a": "x\ty"}'),
    ("raw-newline", '{"a": "x\ny"}'),
    ("bad-escape", '{"a": "\\x41"}'),
    ("short-unicode-escape", '{"a": "\\u12"}'),
    ("extra-data", '{} {}'),
    ("stray-bracket", "{}]"),
    ("bom", '\ufeff{"a": 1}'),
    ("nul-byte", '{"a": 1}\x00'),
    ("double-comma", '{"a": 1,, "b": 2}'),
    ("missing-colon", '{"a" 1}'),
    ("missing-value", '{"a": }'),
    ("number-key", "{1: 2}"),
    ("garbage-after", '{"a": 1}garbage'),
    ("shell-interpolated", '{"version": "2.0.0"", "x": "y"}'),
]:
    add(f"syntax-{case_id}", text, 2, SYNTAX)

# ---------------------------------------------------------------- not an object
for case_id, text, kind in [("array", "[]", "an array"), ("list", "[1, 2]", "an array"),
                            ("string", '"text"', "a string"), ("number", "1", "a number"),
                            ("true", "true", "a boolean"), ("null", "null", "null"),
                            ("float", "-0.5", "a number")]:
    add(f"not-object-{case_id}", text, 2, f"line 1 column 1: must be a JSON object, got {kind}")

# ---------------------------------------------------------------- unicode
add("lone-high-surrogate", '{"a": "\\ud800"}', 2,
    "line 1 column 7 ($.a): a string holds a lone UTF-16 surrogate")
add("lone-low-surrogate", '{"a": ["x", "\\udfff"]}', 2, "($.a[1]): a string holds a lone")
add("reversed-pair", '{"a": "\\ude00\\ud83d"}', 2, "a string holds a lone UTF-16 surrogate")
add("high-then-ascii", '{"a": "\\ud83dx"}', 2, "a string holds a lone UTF-16 surrogate")
add("surrogate-key", '{"\\ud800": 1}', 2, "line 1 column 2: a string holds a lone")
add("undecodable-argument-byte", '{"a": "caf\udce9"}', 2,
    "line 1 column 11: the text is not valid Unicode")
add("emoji-pair", '{"a": "\\ud83d\\ude00", "b": "☃ é 中"}', 0, OK)
add("escaped-everything", '{"a": "\\"\\\\\\/\\b\\f\\n\\r\\t\\u0000"}', 0, OK)

# ---------------------------------------------------------------- size
add("over-one-mib", '{"a": "' + "x" * (1024 * 1024) + '"}', 2,
    "bytes of JSON; at most 1,048,576 are read")
add("over-one-mib-multibyte", '{"a": "' + "é" * (600 * 1024) + '"}', 2,
    "bytes of JSON; at most 1,048,576 are read")
add("big-but-allowed", '{"a": "' + "x" * (900 * 1024) + '"}', 0, OK)

# ---------------------------------------------------------------- accepted
for case_id, text in [
    ("empty-object", "{}"),
    ("typical", '{"version": "2.1.0", "build_status": "success", "channel": "stable"}'),
    ("spaces-around", '  \n {"version": "2.1.0"}\n\n'),
    ("all-types", '{"s": "x", "i": 1, "f": 1.5, "t": true, "f2": false, "n": null, '
                  '"l": [], "o": {}}'),
    ("many-keys", "{" + ", ".join(f'"k{i}": {i}' for i in range(50)) + "}"),
    ("long-array", '{"a": [' + ", ".join(["1"] * 10_000) + "]}"),
    ("duplicate-keys", '{"a": 1, "a": 2}'),
    ("odd-keys", '{"": 1, "a.b": 2, "$x": 3, "with space": 4}'),
    ("unicode-keys", '{"café": 1, "日本": 2}'),
    ("exponents", '{"a": 1e5, "b": -2.5E-3, "c": 0e0}'),
]:
    add(f"ok-{case_id}", text, 0, OK)

# Input through a file or standard input: (id, how, bytes, exit, fragment).
FILE_CASES: list[tuple[str, str, bytes, int, str]] = [
    ("file-nan", "@file", b'{"a":\n NaN}', 2, "--payload @{path}: line 2 column 2 ($.a): NaN"),
    ("file-deep", "@file", b"[" * 100_000, 2, "nested deeper than 64 levels"),
    ("file-latin1", "@file", b'{"a": "caf\xe9"}', 2, "the file is not UTF-8 text (byte 10)"),
    ("file-huge", "@file", b'{"a": "' + b"x" * (2 * 1024 * 1024) + b'"}', 2,
     "more than 1,048,576 bytes of JSON"),
    ("file-ok", "@file", b'{"version": "2.1.0"}', 0, OK),
    ("stdin-infinity", "@-", b'{"a": Infinity}', 2, "--payload @-: line 1 column 7 ($.a)"),
    ("stdin-5000-digits", "@-", b'{"a": ' + b"1" * 5000 + b"}", 2, "a number of 5,000"),
    ("stdin-ok", "@-", b'{"version": "2.1.0"}', 0, OK),
    ("missing-file", "@missing", b"", 2, "cannot read the file"),
    ("directory", "@dir", b"", 2, "cannot read the file"),
]
