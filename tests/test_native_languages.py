"""Java and Ruby (and Python) functions: methods, docstrings, variable roles, graph edges."""

from __future__ import annotations

import numpy as np
import pytest

from native import graph, program
from native.methods import methods
from native.parse import parse
from native.roles import NOT_VAR, READ, WRITE
from native.spec import spec
from tests import oracle
from tests.native_corpora import sample

JAVA = b"""\
package p;

class A {
    /**
     * Adds one.
     * @param a the value
     */
    @Override
    public int addOne(final int a, String... rest) {
        int x = a + 1, y;  // a comment
        y = x;
        x += y;
        for (String r : rest) { x++; }
        try (var in = open()) { } catch (Exception e) { log(e); }
        rest.forEach(w -> w.run());
        return this.f + x;
    }

    abstract void none();
}
"""

RUBY = b"""\
# Not this one.

# Adds things.
# Second line.
def add(a, b = 1, *rest, key:, &blk)
  x = a + b
  c, (d, e) = foo(x), [1, 2]
  items.each { |i| y = i + x }
  for z in rest do puts z end
  x
end

class Foo
  def self.build(n) = new(n)
end
"""


def _roles(fn: program.Function) -> dict[str, list[int]]:
    out: dict[str, list[int]] = {}
    for tok, r in zip(fn.tokens, fn.role.tolist(), strict=True):
        out.setdefault(tok, []).append(r)
    return out


def test_java_methods_and_javadoc():
    tree = parse(JAVA, "java")
    found = methods(tree, spec("java"))
    assert [m.name for m in found] == ["addOne", "none"]
    m = found[0]
    assert m.doc == "Adds one.\n@param a the value"
    assert m.code.startswith("@Override") and m.code.endswith("}")
    assert m.line == 8
    body = m.tokens(tree)[m.body[0] : m.body[1]]
    assert body[0] == "{" and body[-1] == "}" and "addOne" not in body
    assert found[1].body_node == -1 and found[1].body[0] == found[1].body[1]


def test_java_variable_roles():
    tree = parse(JAVA, "java")
    fn = program.function(tree, methods(tree, spec("java"))[0].lo, spec("java"))
    assert fn.variables() == ["a", "rest", "x", "y", "r", "in", "e", "w"]
    roles = _roles(fn)
    assert roles["x"] == [WRITE, READ, WRITE, WRITE, READ]  # x++ writes, this.f + x reads
    assert roles["y"] == [WRITE, WRITE, READ]
    assert roles["addOne"] == [NOT_VAR] and roles["forEach"] == [NOT_VAR]
    assert roles["f"] == [NOT_VAR] and roles["Override"] == [NOT_VAR]
    e = program.function_edges(tree, fn, spec("java"))
    computed = {(fn.tokens[s], fn.tokens[d]) for s, d, t in e.tolist() if t == graph.COMPUTED_FROM}
    assert computed == {("x", "a"), ("y", "x"), ("x", "y")}


def test_ruby_methods_and_comments():
    tree = parse(RUBY, "ruby")
    found = methods(tree, spec("ruby"))
    assert [m.name for m in found] == ["add", "build"]
    assert found[0].doc == "Adds things.\nSecond line."
    assert found[1].doc == ""
    assert found[1].tokens(tree)[found[1].body[0] : found[1].body[1]] == ["new", "(", "n", ")"]


def test_ruby_variable_roles():
    tree = parse(RUBY, "ruby")
    fn = program.function(tree, methods(tree, spec("ruby"))[0].lo, spec("ruby"))
    assert fn.variables() == ["a", "b", "rest", "key", "blk", "x", "c", "d", "e", "i", "y", "z"]
    roles = _roles(fn)
    assert roles["foo"] == [NOT_VAR] and roles["each"] == [NOT_VAR]  # method names
    assert roles["items"] == [READ]  # a bare name reads, but is never assigned here
    assert "items" not in {fn.tokens[t] for t in fn.candidates()}
    assert roles["x"] == [WRITE, READ, READ, READ]


def test_python_docstring():
    src = b'def f(x):\n    """Doc.\n\n    More.\n    """\n    return x\n\ndef g():\n    return 1\n'
    tree = parse(src, "python")
    assert [m.doc for m in methods(tree, spec("python"))] == ["Doc.\n\nMore.", ""]


def test_reverse_edges():
    tree = parse(JAVA, "java")
    fn = program.function(tree, methods(tree, spec("java"))[0].lo, spec("java"))
    e = program.function_edges(tree, fn, spec("java"))
    both = program.function_edges(tree, fn, spec("java"), reverse=True)
    assert len(both) == 2 * len(e)
    back = both[len(e) :]
    assert np.array_equal(back[:, 0], e[:, 1]) and np.array_equal(back[:, 1], e[:, 0])
    assert np.array_equal(back[:, 2], e[:, 2] + graph.REVERSE_OFFSET)


@pytest.mark.parametrize("lang", ["java", "ruby", "python"])
def test_graphs_match_oracle_on_corpus(lang):
    sp = spec(lang)
    checked = 0
    for name, source in sample(lang, 6, offset=3):
        tree = parse(source, lang)
        nodes = oracle.definitions(source, sp)
        los = program.definitions(tree, sp)
        assert len(nodes) == len(los), name
        for lo, node in zip(los.tolist(), nodes, strict=True):
            fn = program.function(tree, lo, sp)
            want = oracle.function_graph(node, sp)
            assert fn.tokens == want.tokens, (name, fn.name)
            assert fn.role.tolist() == want.roles, (name, fn.name)
            got = program.function_edges(tree, fn, sp).tolist()
            assert {tuple(e) for e in got} == want.edges, (name, fn.name)
            assert len(got) == len(want.edges)
            checked += 1
        batched = program.graphs(tree, sp, los)  # one kernel call for the whole file
        for f, lo in enumerate(los.tolist()):
            fn = program.function(tree, lo, sp)
            tok_node, pseudo, role, e = batched.function(f)
            assert program.token_texts(tree, tok_node, pseudo) == fn.tokens
            assert np.array_equal(role, fn.role)
            assert {tuple(x) for x in e.tolist()} == {
                tuple(x) for x in program.function_edges(tree, fn, sp).tolist()
            }
    assert checked > 5


@pytest.mark.parametrize("lang", ["java", "ruby", "python"])
def test_flat_tree_matches_node_api_on_corpus(lang):
    for name, source in sample(lang, 3, offset=1):
        tree = parse(source, lang)
        nodes = oracle.flat_tree_from_nodes(source, lang)
        assert len(tree) == len(nodes), name
        assert [tree.kind_name(i) for i in range(len(tree))] == [n[0] for n in nodes]
        assert tree.start_byte.tolist() == [n[1] for n in nodes]
        assert tree.end_byte.tolist() == [n[2] for n in nodes]
        assert list(zip(tree.start_row.tolist(), tree.start_col.tolist(), strict=True)) == [
            n[4] for n in nodes
        ]
        assert tree.end_row.tolist() == [n[5] for n in nodes]


def test_ruby_the_first_method_of_a_class_keeps_its_comment():
    """tree-sitter puts the comments above a body's first statement before the body: the
    first documented method of every class and module had no doc, and was left out of
    code_to_text and code_search (193 of the Ruby standard library's; found by probing)."""
    src = (b"class Good # not its doc\n  # Computes the total.\n  # Twice.\n"
           b"  def total(a, b)\n    a + b\n  end\nend\n"
           b"module M\n  # Not this one:\n\n  def apart; end\nend\n"
           b"class Bare # trailing, not a doc\n  def bare; end\nend\n")  # fmt: skip
    tree = parse(src, "ruby")
    assert [(m.name, m.doc) for m in methods(tree, spec("ruby"))] == [
        ("total", "Computes the total.\nTwice."), ("apart", ""), ("bare", "")]  # fmt: skip
