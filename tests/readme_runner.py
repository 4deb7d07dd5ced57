"""Runs one Python code block of README.md as written, checking the values it shows.

    python tests/readme_runner.py BLOCK_FILE FIRST_LINE

Statements run in order, in one namespace, with README.md line numbers in tracebacks.
A comment right after an expression statement (or at the end of its last line) that
starts like a value (`[`, `{`, `(`, a quote, a digit, `-`, or `array(`) is the repr the
statement must produce, continued on the comment lines below it that start with `#  `
(two spaces); `...` matches anything (doctest's ELLIPSIS). Other comments are prose. Exits 1 on the first mismatch, naming the README line.
"""

import ast
import doctest
import io
import re
import sys
import tokenize

_VALUE = re.compile(r"#\s*((?:[\[{('\"\-\d]|array\().*)$")
_CHECKER = doctest.OutputChecker()
_OPTIONS = doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE


def expected_values(source):
    """{line number: expected repr} from the value comments of `source`."""
    comments = {}
    for token in tokenize.generate_tokens(io.StringIO(source).readline):
        if token.type == tokenize.COMMENT:
            match = _VALUE.match(token.string)
            if match:
                comments[token.start[0]] = (match.group(1).strip(), token.start[1])
    return comments


def statements_with_expectations(source):
    """[(statement, expected repr or None)] for the top-level statements."""
    comments = expected_values(source)
    lines = source.splitlines()
    result = []
    for statement in ast.parse(source).body:
        expected = None
        if isinstance(statement, ast.Expr):
            last = statement.end_lineno
            inline = comments.get(last)
            after = comments.get(last + 1)
            if inline and inline[1] > len(lines[last - 1]) - len(lines[last - 1].lstrip()):
                expected = inline[0]
            if after and lines[last].lstrip().startswith("#"):
                parts, following = [after[0]], last + 1
                # a long value goes on over comment lines indented by two spaces
                while following < len(lines) and lines[following].lstrip().startswith("#  "):
                    parts.append(lines[following].lstrip()[1:].strip())
                    following += 1
                expected = " ".join(parts)
        result.append((statement, expected))
    return result


def run(source, first_line):
    namespace = {"__name__": "__main__"}
    for statement, expected in statements_with_expectations(source):
        module = ast.Module([statement], type_ignores=[])
        ast.increment_lineno(module, first_line - 1)
        line = statement.lineno + first_line - 1
        if expected is None:
            exec(compile(module, "README.md", "exec"), namespace)
            continue
        expression = ast.Expression(statement.value)
        value = eval(compile(expression, "README.md", "eval"), namespace)
        got = repr(value)
        if not _CHECKER.check_output(expected + "\n", got + "\n", _OPTIONS):
            print(f"README.md line {line}: expected {expected}\n  got {got}",
                  file=sys.stderr)
            return 1
        print(f"README.md line {line}: {got[:200]}")
    return 0


if __name__ == "__main__":
    path, first = sys.argv[1], int(sys.argv[2])
    with open(path) as handle:
        sys.exit(run(handle.read(), first))
