"""Ruby: kind tables for tokens, variable roles and paths; methods and their comment blocks."""

from __future__ import annotations

import re
from functools import cache

import numpy as np

from native import program, tokens
from native.parse import FlatTree, field_id, n_kinds
from native.spec import ANY, RoleRules, Spec, assignment_fields, per_kind, per_kind_field

_PARAM_LISTS = ("method_parameters", "lambda_parameters", "block_parameters")


@cache
def spec() -> Spec:
    lang = "ruby"
    token_class = np.zeros(n_kinds(lang), np.int8)
    token_class[per_kind(lang, [
        "string", "chained_string", "delimited_symbol", "regex", "subshell", "heredoc_body",
        "string_array", "symbol_array", "character",
    ])] = tokens.ATOMIC  # fmt: skip
    token_class[per_kind(lang, ["comment"])] = tokens.SKIP
    roles = RoleRules(
        ident=per_kind(lang, ["identifier"]),
        no_vars=per_kind(lang, ["alias", "undef"]),
        not_var=per_kind_field(
            lang, [("call", "method"), ("method", "name"), ("singleton_method", "name")]
        ),
        binds=per_kind_field(
            lang,
            [
                *(
                    (k, ANY)
                    for k in (*_PARAM_LISTS, "exception_variable", "destructured_parameter")
                ),
                *(
                    (k, "name")
                    for k in (
                        "optional_parameter",
                        "keyword_parameter",
                        "splat_parameter",
                        "hash_splat_parameter",
                        "block_parameter",
                    )
                ),
            ],
        ),
        binds_through=per_kind_field(
            lang,
            [
                ("assignment", "left"),
                ("operator_assignment", "left"),
                ("for", "pattern"),
                *((k, ANY) for k in _PARAM_LISTS),
            ],
        ),
        patterns=per_kind(
            lang,
            [
                "left_assignment_list",
                "destructured_left_assignment",
                "rest_assignment",
                "destructured_parameter",
            ],
        ),
    )
    left, right = assignment_fields(
        lang, [("assignment", "left", "right"), ("operator_assignment", "left", "right")]
    )
    return Spec(
        lang=lang,
        token_class=token_class,
        roles=roles,
        assign_left=left,
        assign_right=right,
        function_kinds=per_kind(lang, ["method", "singleton_method"]),
        operator_kinds=per_kind(lang, ["binary", "unary", "operator_assignment"]),
        child_id_parents=per_kind(lang, ["assignment", "element_reference", "call"]),
        integer_kinds=per_kind(lang, ["integer"]),
        f_name=field_id(lang, "name"),
        f_body=field_id(lang, "body"),
        f_operator=field_id(lang, "operator"),
        docstring=docstring,
    )


def docstring(tree: FlatTree, lo: int) -> str:
    """The comment block right above the ``def`` (no blank line between), ``#`` stripped.

    An ``=begin``/``=end`` block right above counts too. Comments at the end of an earlier
    line of code are not part of the block.
    """
    lines: list[str] = []
    texts: list[str] = []
    row = int(tree.start_row[lo])
    prev = program.previous_sibling(tree, lo)
    parent = int(tree.parent[lo])
    if prev < 0 and parent >= 0 and tree.kind_name(parent) == "body_statement":
        # The first method of a class or module: tree-sitter puts the comments above it
        # before the body, beside the class's name, not in the body with the method.
        prev = program.previous_sibling(tree, parent)
    while prev >= 0 and tree.kind_name(prev) == "comment" and tree.end_row[prev] >= row - 1:
        before = program.previous_sibling(tree, prev)
        if before >= 0 and tree.end_row[before] == tree.start_row[prev]:
            break  # a trailing comment of the line above
        text = tree.text(prev)
        texts.insert(0, text)
        if text.startswith("=begin"):
            body = text.split("\n")[1:-1]
            lines[:0] = body
        else:
            lines.insert(0, text[1:].removeprefix(" ") if text.startswith("#") else text)
        row = int(tree.start_row[prev])
        prev = before
    if prev < 0 and texts and parent == 0:  # the file's first lines
        while texts and _MAGIC.search(texts[0]):  # a shebang or magic comment: not the doc
            texts.pop(0)
            lines.pop(0)
    return "\n".join(lines).strip()


# What Ruby reads in a file's leading comments: a shebang, the encoding (anywhere on its line,
# as Ruby looks for it) and the other magic comments, `# key: value` or `# -*- key: value -*-`.
_MAGIC = re.compile(
    r"\A#!|\A#.*coding[:=]|\A#\s*(?:-\*-\s*)?(?:frozen_string_literal|warn_indent|warn_past_scope"
    r"|shareable_constant_value)\s*:", re.IGNORECASE,
)
