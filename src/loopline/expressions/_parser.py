"""A small, safe expression language: tokenizer and Pratt parser.

Used for success metrics (``automation_rate >= 0.70``), gates (``roc_auc >= champion.roc_auc -
0.005``), contract rules (``PAY_AMT1 <= BILL_AMT1 * 2 or BILL_AMT1 < 0``) and business rules.
Nothing is ever passed to ``eval``: the parser builds a tree of the node classes below, and
evaluators walk it.

Grammar (lowest to highest precedence)::

    expr     := or
    or       := and ("or" and)*
    and      := not ("and" not)*
    not      := "not" not | compare
    compare  := sum (("<" | "<=" | ">" | ">=" | "==" | "!=") sum | "not"? "in" list
                      | "is" "not"? "null")?
    sum      := product (("+" | "-") product)*
    product  := unary (("*" | "/" | "%") unary)*
    unary    := "-" unary | atom
    atom     := NUMBER | STRING | "true" | "false" | "null" | name | call | "(" expr ")" | list
    name     := IDENT ("." IDENT)*
    call     := name "(" [arg ("," arg)*] ")"       arg := expr | IDENT "=" expr
    list     := "[" [expr ("," expr)*] "]"
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from loopline.errors import ExpressionError, Problem

__all__ = [
    "BinaryOp",
    "Call",
    "Compare",
    "ListLit",
    "Literal",
    "Name",
    "Node",
    "UnaryOp",
    "parse",
]


@dataclass(frozen=True)
class Node:
    """Base of every expression node."""


@dataclass(frozen=True)
class Literal(Node):
    value: Any


@dataclass(frozen=True)
class Name(Node):
    """A (possibly dotted) name: a column, a metric, or ``champion.roc_auc``."""

    parts: tuple[str, ...]

    @property
    def dotted(self) -> str:
        return ".".join(self.parts)


@dataclass(frozen=True)
class ListLit(Node):
    items: tuple[Node, ...]


@dataclass(frozen=True)
class UnaryOp(Node):
    op: str  # "-" or "not"
    operand: Node


@dataclass(frozen=True)
class BinaryOp(Node):
    op: str  # + - * / % and or
    left: Node
    right: Node


@dataclass(frozen=True)
class Compare(Node):
    op: str  # < <= > >= == != in "not in" "is null" "is not null"
    left: Node
    right: Node | None


@dataclass(frozen=True)
class Call(Node):
    func: str
    args: tuple[Node, ...]
    kwargs: tuple[tuple[str, Node], ...]


_TOKEN = re.compile(
    r"""
    (?P<ws>\s+)
  | (?P<number>(?:\d+\.\d*|\.\d+|\d+)(?:[eE][+-]?\d+)?)
  | (?P<string>'(?:[^'\\]|\\.)*'|"(?:[^"\\]|\\.)*")
  | (?P<op><=|>=|==|!=|<|>|\+|-|\*|/|%|\(|\)|\[|\]|,|=|\.)
  | (?P<ident>[A-Za-z_][A-Za-z0-9_]*)
    """,
    re.VERBOSE,
)
_KEYWORDS = {"and", "or", "not", "in", "is", "null", "true", "false"}
_COMPARE_OPS = {"<", "<=", ">", ">=", "==", "!="}


@dataclass(frozen=True)
class _Token:
    kind: str
    text: str
    pos: int


def _tokenize(source: str) -> list[_Token]:
    tokens: list[_Token] = []
    pos = 0
    while pos < len(source):
        match = _TOKEN.match(source, pos)
        if match is None:
            raise _fail(source, pos, f"unexpected character {source[pos]!r}")
        kind = match.lastgroup or ""
        text = match.group()
        if kind != "ws":
            if kind == "ident" and text in _KEYWORDS:
                kind = "keyword"
            tokens.append(_Token(kind, text, pos))
        pos = match.end()
    tokens.append(_Token("end", "", len(source)))
    return tokens


def _fail(source: str, pos: int, what: str) -> ExpressionError:
    pointer = " " * pos + "^"
    return ExpressionError(
        f"Cannot parse expression {source!r}: {what} at character {pos + 1}.\n    {source}\n"
        f"    {pointer}",
        hint="Expressions use names, numbers, 'strings', + - * /, comparisons (< <= > >= == !=), "
        "and/or/not, `in [..]`, `is null` and function calls like slice_gap(recall, by=SEX).",
        problems=[Problem(loc=(), code="expression-syntax", msg=what, value=source)],
    )


class _Parser:
    def __init__(self, source: str) -> None:
        self.source = source
        self.tokens = _tokenize(source)
        self.index = 0

    @property
    def current(self) -> _Token:
        return self.tokens[self.index]

    def _advance(self) -> _Token:
        token = self.tokens[self.index]
        self.index += 1
        return token

    def _at(self, text: str) -> bool:
        token = self.current
        return token.kind in ("op", "keyword") and token.text == text

    def _expect(self, text: str) -> _Token:
        if not self._at(text):
            got = self.current.text or "end of expression"
            raise _fail(self.source, self.current.pos, f"expected {text!r}, found {got!r}")
        return self._advance()

    def parse(self) -> Node:
        node = self._or()
        if self.current.kind != "end":
            raise _fail(self.source, self.current.pos, f"unexpected {self.current.text!r}")
        return node

    def _or(self) -> Node:
        node = self._and()
        while self._at("or"):
            self._advance()
            node = BinaryOp("or", node, self._and())
        return node

    def _and(self) -> Node:
        node = self._not()
        while self._at("and"):
            self._advance()
            node = BinaryOp("and", node, self._not())
        return node

    def _not(self) -> Node:
        if self._at("not"):
            self._advance()
            return UnaryOp("not", self._not())
        return self._compare()

    def _compare(self) -> Node:
        left = self._sum()
        token = self.current
        if token.kind == "op" and token.text in _COMPARE_OPS:
            self._advance()
            return Compare(token.text, left, self._sum())
        if self._at("in"):
            self._advance()
            return Compare("in", left, self._list())
        if self._at("not"):
            self._advance()
            self._expect("in")
            return Compare("not in", left, self._list())
        if self._at("is"):
            self._advance()
            negated = self._at("not")
            if negated:
                self._advance()
            self._expect("null")
            return Compare("is not null" if negated else "is null", left, None)
        return left

    def _sum(self) -> Node:
        node = self._product()
        while self._at("+") or self._at("-"):
            op = self._advance().text
            node = BinaryOp(op, node, self._product())
        return node

    def _product(self) -> Node:
        node = self._unary()
        while self._at("*") or self._at("/") or self._at("%"):
            op = self._advance().text
            node = BinaryOp(op, node, self._unary())
        return node

    def _unary(self) -> Node:
        if self._at("-"):
            self._advance()
            operand = self._unary()
            if isinstance(operand, Literal) and isinstance(operand.value, int | float):
                return Literal(-operand.value)
            return UnaryOp("-", operand)
        return self._atom()

    def _list(self) -> ListLit:
        self._expect("[")
        items: list[Node] = []
        if not self._at("]"):
            items.append(self._or())
            while self._at(","):
                self._advance()
                items.append(self._or())
        self._expect("]")
        return ListLit(tuple(items))

    def _atom(self) -> Node:
        token = self.current
        if token.kind == "number":
            self._advance()
            is_int = token.text.isdigit()
            return Literal(int(token.text) if is_int else float(token.text))
        if token.kind == "string":
            self._advance()
            body = token.text[1:-1]
            return Literal(re.sub(r"\\(.)", r"\1", body))
        if token.kind == "keyword" and token.text in ("true", "false", "null"):
            self._advance()
            return Literal({"true": True, "false": False, "null": None}[token.text])
        if self._at("("):
            self._advance()
            node = self._or()
            self._expect(")")
            return node
        if self._at("["):
            return self._list()
        if token.kind == "ident":
            return self._name_or_call()
        got = token.text or "end of expression"
        raise _fail(self.source, token.pos, f"expected a value, found {got!r}")

    def _name_or_call(self) -> Node:
        parts = [self._advance().text]
        while self._at("."):
            self._advance()
            if self.current.kind != "ident":
                raise _fail(self.source, self.current.pos, "expected a name after '.'")
            parts.append(self._advance().text)
        if not self._at("("):
            return Name(tuple(parts))
        self._advance()
        args: list[Node] = []
        kwargs: list[tuple[str, Node]] = []
        while not self._at(")"):
            if self.current.kind == "ident" and self.tokens[self.index + 1].text == "=":
                key = self._advance().text
                self._advance()
                kwargs.append((key, self._or()))
            else:
                if kwargs:
                    raise _fail(self.source, self.current.pos, "positional after keyword")
                args.append(self._or())
            if not self._at(")"):
                self._expect(",")
        self._expect(")")
        return Call(".".join(parts), tuple(args), tuple(kwargs))


def parse(source: str) -> Node:
    """Parse an expression into a tree of nodes.

    Raises:
        ExpressionError: The text is not a valid expression; the message points at the spot.

    Example:
        >>> parse("roc_auc >= 0.75")
        Compare(op='>=', left=Name(parts=('roc_auc',)), right=Literal(value=0.75))
    """
    if not isinstance(source, str) or not source.strip():
        raise ExpressionError(
            f"An expression must be non-empty text, got {source!r}.",
            problems=[Problem(loc=(), code="expression-empty", msg="empty expression")],
        )
    return _Parser(source).parse()
