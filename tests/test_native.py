"""native/: flat trees, token layout, variable roles and graph edges against the oracle."""

from __future__ import annotations

import numpy as np
import pytest

from native import python as pylang
from native import sources
from native.parse import parse
from tests import oracle

SOURCE = b"""\
def f(a, b=1, *args, **kw):
    x = a.y + b  # a comment
    for i, (j, k) in enumerate(args):
        x += i
    with open(kw["p"]) as fh:
        data = fh.read()
    g(key=x)
    return f"{x}" + "s"
"""


def test_flat_tree_matches_node_api():
    tree = parse(SOURCE, "python")
    nodes = oracle.flat_tree_from_nodes(SOURCE)
    assert len(tree) == len(nodes)
    lang = pylang.language("python")
    for i, (kind, start, end, field, point, end_row, error) in enumerate(nodes):
        assert tree.kind_name(i) == kind
        assert (tree.start_byte[i], tree.end_byte[i]) == (start, end)
        got = lang.field_name_for_id(int(tree.field[i])) if tree.field[i] else None
        assert got == field
        assert (tree.start_row[i], tree.start_col[i], tree.end_row[i]) == (*point, end_row)
        assert tree.error[i] == error
    # Preorder with subtree ranges: every node's descendants lie in [i + 1, end[i]).
    for i in range(1, len(tree)):
        p = tree.parent[i]
        assert p < i < tree.end[p]
        assert tree.depth[i] == tree.depth[p] + 1


def test_tokens_and_layout():
    tree = parse(SOURCE, "python")
    fn = pylang.function(tree, int(pylang.functions(tree)[0]))
    assert fn.name == "f"
    assert fn.tokens[0] == "#NEWLINE#"
    assert "# a comment" not in fn.tokens  # comments are not tokens
    assert 'f"{x}"' in fn.tokens and '"s"' in fn.tokens  # strings are single tokens
    assert fn.tokens.count("#INDENT#") == 3
    assert fn.tokens.count("#UNINDENT#") == 2
    assert fn.tokens[1:4] == ["def", "f", "("]


def test_variable_roles():
    tree = parse(SOURCE, "python")
    fn = pylang.function(tree, int(pylang.functions(tree)[0]))
    assert fn.variables() == ["a", "b", "args", "kw", "x", "i", "j", "k", "fh", "data"]
    roles = {}
    for t, tok in enumerate(fn.tokens):
        roles.setdefault(tok, []).append(int(fn.role[t]))
    assert roles["y"] == [pylang.NOT_VAR]  # attribute name
    assert roles["key"] == [pylang.NOT_VAR]  # keyword argument name
    assert roles["f"] == [pylang.NOT_VAR]  # the function's own name
    # the f-string is one token, so its x is not an occurrence
    assert roles["x"] == [pylang.WRITE, pylang.WRITE, pylang.READ]
    assert roles["fh"] == [pylang.WRITE, pylang.READ]
    cands = fn.candidates()
    assert {fn.tokens[t] for t in cands} == set(fn.variables())
    assert "enumerate" not in {fn.tokens[t] for t in cands}  # read but never assigned


def test_edges_match_oracle_on_sample():
    tree = parse(SOURCE, "python")
    fn = pylang.function(tree, int(pylang.functions(tree)[0]))
    want = oracle.function_graph(oracle.definitions(SOURCE, pylang.spec())[0], pylang.spec())
    assert (fn.tokens, fn.role.tolist()) == (want.tokens, want.roles)
    got = {tuple(e) for e in pylang.function_edges(tree, fn).tolist()}
    assert got == want.edges
    assert len(got) == len(pylang.function_edges(tree, fn))  # no duplicate edges


@pytest.mark.parametrize("index", [0, 7, 31, 63, 127, 255])
def test_edges_match_oracle_on_stdlib(index):
    corpus = sources.named("python-stdlib", "python")
    files = corpus.names()
    rel = files[index * len(files) // 256]
    source = corpus.read(rel)
    tree = parse(source, "python")
    nodes = {n.start_byte: n for n in oracle.definitions(source, pylang.spec())}
    for lo in pylang.functions(tree):
        fn = pylang.function(tree, int(lo))
        want = oracle.function_graph(nodes[int(tree.start_byte[lo])], pylang.spec())
        assert (fn.tokens, fn.role.tolist()) == (want.tokens, want.roles), (rel, fn.name)
        got = pylang.function_edges(tree, fn)
        assert {tuple(e) for e in got.tolist()} == want.edges, (rel, fn.name)


def test_outermost_functions_only():
    src = (
        b"def outer():\n    def inner(z):\n        return z\n    return inner\n\n"
        b"class C:\n    def m(self):\n        pass\n"
    )
    tree = parse(src, "python")
    names = [pylang.function(tree, int(lo)).name for lo in pylang.functions(tree)]
    assert names == ["outer", "m"]


def test_broken_source_is_flagged():
    tree = parse(b"def f(a:\n    return a +\n", "python")
    fns = pylang.functions(tree)
    assert all(pylang.function(tree, int(lo)).has_error for lo in fns)
    assert np.all(tree.end > np.arange(len(tree)))


def test_lone_carriage_returns_end_lines_in_python_and_java():
    """Old Mac line ends: Python and Java end a line there, their grammars did not, so a file
    parsed as one line, its functions cut short or lost (found by probing)."""
    from benchmark.tasks.methods import java_samples
    from benchmark.tasks.var_misuse import samples_from_file

    py = (b"def good(alpha, beta):\n    gamma = alpha + beta\n    delta = gamma * alpha\n"
          b"    return delta - beta + gamma\n\n\ndef other(a, b):\n    c = a + b\n"
          b"    return c * a\n")  # fmt: skip
    java = (b"class C {\n  int f(int a) {\n    // a comment\n    int b = a + 1;\n"
            b"    return b * a;\n  }\n  int g(int x) { return x + x * x - 1; }\n}\n")  # fmt: skip
    assert samples_from_file("x.py", py.replace(b"\n", b"\r"), 512) == \
        samples_from_file("x.py", py, 512)  # fmt: skip
    assert java_samples("C.java", java.replace(b"\n", b"\r"), 512) == \
        java_samples("C.java", java, 512)  # fmt: skip
    assert [s["id"] for s in java_samples("C.java", java.replace(b"\n", b"\r"), 512)] == [
        "C.java:2:f", "C.java:7:g"]  # fmt: skip


def test_sources_are_read_in_their_declared_encoding():
    """A Latin-1 file that says so reads as its language reads it; one whose bytes are not
    valid in its encoding (UTF-8 unless declared) is refused with the line of the first bad
    byte, where its 'Café' had become 'Caf\\ufffd' in a docstring without a word."""
    from benchmark.tasks.methods import java_samples, ruby_samples
    from benchmark.tasks.var_misuse import samples_from_file
    from native.encoding import declared, utf8

    ruby = "# Returns the café's total bill.\ndef total(a, b)\n  c = a + b\n  c * 2 + a\nend\n"
    declared_latin1 = b"# encoding: iso-8859-1\n" + ruby.encode("latin-1")
    [sample] = ruby_samples("a.rb", declared_latin1, 512)
    assert sample["doc_tokens"] == ["Returns", "the", "café", "'", "s", "total", "bill", "."]
    assert sample["id"] == "a.rb:3:total"  # lines as in the file
    with pytest.raises(ValueError, match=r"^not valid utf-8: byte 0xe9 on line 1$"):
        ruby_samples("a.rb", ruby.encode("latin-1"), 512)
    py = "#!/usr/bin/env python3\n# -*- coding: cp1252 -*-\ndef f(alpha, beta):\n" \
         "    gamma = alpha + beta  # €\n    return gamma * alpha - beta\n"  # fmt: skip
    assert samples_from_file("x.py", py.encode("cp1252"), 512) == \
        samples_from_file("x.py", py.encode(), 512)  # fmt: skip
    with pytest.raises(ValueError, match="not valid utf-8: byte 0x80 on line 4"):
        samples_from_file("x.py", py.encode("cp1252").replace(b"cp1252", b"utf-8 "), 512)
    with pytest.raises(ValueError, match="not valid utf-8: byte 0xe9 on line 1"):
        java_samples("C.java", "class C { String s = \"é\"; }".encode("latin-1"), 512)
    with pytest.raises(ValueError, match="'klingon', not a known text encoding"):
        utf8(b"# coding: klingon\n", "python")
    # Where each language looks: Python lines 1-2 (2 after a comment or blank line), Ruby
    # line 1 (2 after a shebang), Java nowhere.
    assert declared(b"x = 1\n# coding: latin-1\n", "python") is None
    assert declared(b"\n# coding: latin-1\n", "python") == "latin-1"
    assert declared(b"# hello\n# coding: latin-1\n", "ruby") is None
    assert declared(b"#!/usr/bin/ruby\n# -*- coding: Latin-1 -*-\n", "ruby") == "latin-1"
    assert declared(b"// coding: latin-1\n", "java") is None
    raw = "# encoding: binary\n# é\n".encode()
    assert utf8(raw, "ruby") == raw


def test_ruby_magic_comments_are_not_a_docstring():
    """A file's shebang and magic comments sit above its first method but are Ruby's, not the
    method's doc: yard's templates gave 'frozen_string_literal : true' as a reference."""
    from benchmark.tasks.methods import ruby_samples

    body = "def total(a, b)\n  c = a + b\n  c * 2 + a\nend\n"
    magic = "#!/usr/bin/env ruby\n# -*- coding: utf-8 -*-\n# frozen_string_literal: true\n"
    assert ruby_samples("a.rb", (magic + body).encode(), 512) == []
    [sample] = ruby_samples("a.rb", (magic + "# Adds them up twice.\n" + body).encode(), 512)
    assert sample["doc_tokens"] == ["Adds", "them", "up", "twice", "."]
    # Elsewhere such a line is an ordinary comment
    [sample] = ruby_samples("a.rb", ("x = 1\n# frozen_string_literal: a flag.\n" + body).encode(),
                            512)  # fmt: skip
    assert sample["doc_tokens"] == ["frozen_string_literal", ":", "a", "flag", "."]
