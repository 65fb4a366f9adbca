"""native.formats: GREAT JSON lines, code2vec .c2v and code2seq .c2s, read and written."""

from __future__ import annotations

import numpy as np
import pytest

from native import formats, paths, program
from native.methods import methods
from native.parse import parse
from native.spec import spec
from tests.shared_data import GREAT_SHARD


def test_great_shard_round_trips_exactly(tmp_path):
    assert GREAT_SHARD.exists(), f"the GREAT shard is missing: {GREAT_SHARD}"
    samples = list(formats.read_great(GREAT_SHARD))
    assert len(samples) == 546 and any(s.has_bug for s in samples)
    s = samples[0]
    assert s.source_tokens[0] == "#NEWLINE#" and s.edge_array().shape[1] == 3
    assert all(e[3] == formats.EDGE_TYPES[e[2]] for e in s.edges)
    out = tmp_path / "copy.txt"
    assert formats.write_great(samples, out) == 546
    assert out.read_bytes() == GREAT_SHARD.read_bytes()


def test_great_from_our_graph(tmp_path):
    src = b"def f(a, b):\n    c = a + b\n    return c\n"
    tree = parse(src, "python")
    fn = program.function(tree, int(program.definitions(tree, spec("python"))[0]), spec("python"))
    e = program.function_edges(tree, fn, spec("python"))
    sample = formats.GreatSample(
        source_tokens=fn.tokens, has_bug=False, error_location=0, repair_targets=[],
        repair_candidates=fn.candidates().tolist(), edges=formats.great_edges(e),
    )  # fmt: skip
    formats.write_great([sample], tmp_path / "ours.txt")
    (back,) = formats.read_great(tmp_path / "ours.txt")
    assert back == sample
    assert np.array_equal(back.edge_array(), e)


def test_great_errors_name_file_and_line(tmp_path):
    bad = tmp_path / "bad.txt"
    bad.write_text('{"source_tokens": [], "has_bug": false}\n')
    with pytest.raises(formats.FormatError, match=r"bad.txt:1: missing error_location"):
        list(formats.read_great(bad))
    bad.write_text("\n{not json\n")
    with pytest.raises(formats.FormatError, match=r"bad.txt:2: not JSON"):
        list(formats.read_great(bad))


def test_context_files_round_trip(tmp_path):
    text = (
        "get|name METHOD_NAME,Nm0|Mth|Prm|VDID0,name this,Th0|Fld|Nm1,name   \n"
        "set 12,-1234,x x,77,y\n"
    )
    src = tmp_path / "a.c2s"
    src.write_text(text)
    lines = list(formats.read_contexts(src))
    assert lines[0].name == "get|name" and lines[0].padding == 3
    assert lines[0].contexts[1] == ("this", "Th0|Fld|Nm1", "name")
    assert lines[1].contexts == [("12", "-1234", "x"), ("x", "77", "y")]
    formats.write_contexts(lines, tmp_path / "b.c2s")
    assert (tmp_path / "b.c2s").read_text() == text
    (tmp_path / "bad.c2v").write_text("name a,b\n")
    with pytest.raises(formats.FormatError, match=r"bad\.c2v:1"):
        list(formats.read_contexts(tmp_path / "bad.c2v"))


def test_our_contexts_as_c2s_and_c2v():
    src = b"class A {\n  int getCount(int[] items) {\n    return items.length + 42;\n  }\n}\n"
    tree = parse(src, "java")
    sp = spec("java")
    (m,) = methods(tree, sp)
    c = paths.extract(tree, sp, np.asarray([m.lo]), np.asarray([3], np.uint64))
    c2s, c2v = formats.context_lines(
        tree, sp, m.name, m.name_node, c, 0, paths.tree_tables(tree, sp)
    )
    assert c2s.name == c2v.name == "get|count"
    terms = {t for ctx in c2s.contexts for t in (ctx[0], ctx[2])}
    assert {"METHOD_NAME", "items", "<NUM>", "length", "int"} <= terms
    for (s1, p1, d1), (s2, _, d2) in zip(c2s.contexts, c2v.contexts, strict=True):
        assert p1.count("|") >= 1 and "," not in s1 + d1 + s2 + d2
    assert [c2v.contexts[q][0] for q in range(len(c))][:1] != [""]
    hashes = {int(p) for _, p, _ in c2v.contexts}
    assert hashes == set(c.hash.tolist())
    line = formats.format_context_line(c2s)
    assert formats.parse_context_line(line) == c2s
