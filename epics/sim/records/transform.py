"""Simulated transform and calc records, and the calc-expression engine they use.

The expression language is the one of EPICS calc records (``CALC``, ``CLCx``):
variables ``A``..``P`` (``A``..``L`` for a calc record), numbers (decimal,
exponent, ``0x`` hex), the operators ``+ - * / % ^ **``, comparisons
``< <= > >= = == != #``, logic ``&& || !``, bit operations ``& | ~ << >> >>>``
and the words ``AND OR XOR NOT``, the conditional ``a ? b : c``, assignments
``A := expr`` separated by ``;``, the functions ``ABS SQR SQRT EXP LOG LN LOGE
LOG2 SIN COS TAN ASIN ACOS ATAN ATAN2 SINH COSH TANH CEIL FLOOR NINT ISNAN
ISINF FINITE MAX MIN`` and the constants ``PI D2R R2D S2R R2S RNDM NRNDM``.
Expressions are parsed into a tree of small Python functions: no ``eval``.

Transform record semantics (synApps calc module): on processing, each input
link ``INPx`` that names a PV of this server is read into ``x`` (unless the
value was just written), then the expressions ``CLCA``..``CLCP`` are evaluated
in order, each seeing the results of the rows before it; with ``COPT`` =
Conditional a row whose value was just written by a client (it differs from
``Lx``) keeps that value.  ``OUTx`` links that name a PV of this server are
written.  Links to other servers are reported as not connected (``IxV`` = Ext PV NC).
"""
from __future__ import annotations

import math
import random
import re
from typing import Callable, Iterable, List, Optional, Sequence, Tuple

from ._record import Field, SimRecord, dbl, lng, menu, sht, text

__all__ = ['CalcError', 'Calc', 'compile_calc', 'CalcRecord', 'TransformRecord']

#: Longest expression accepted, and deepest nesting: the engine is for short
#: record expressions, and a bound keeps a hostile string cheap to reject.
MAX_EXPRESSION = 1024
MAX_DEPTH = 64

_Node = Callable[[List[float]], float]


class CalcError(ValueError):
    """An expression that does not parse, or cannot be evaluated (e.g. ``A%0``)."""


_TOKEN = re.compile(r'''
    \s*(?:
      (?P<num>0[xX][0-9a-fA-F]+|(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?)
    | (?P<name>[A-Za-z_][A-Za-z0-9_]*)
    | (?P<op>>>>|\*\*|>>|<<|<=|>=|==|!=|&&|\|\||:=|[-+*/%^<>=\#!~&|?:(),;])
    )''', re.VERBOSE)


def _tokenize(expr: str) -> List[Tuple[str, str, int]]:
    tokens: List[Tuple[str, str, int]] = []
    pos = 0
    end = len(expr.rstrip())
    while pos < end:
        match = _TOKEN.match(expr, pos)
        if match is None or match.end() == pos:
            raise CalcError(f'unexpected character {expr[pos:].strip()[:1]!r} '
                            f'at {pos} in {expr!r}')
        pos = match.end()
        for kind in ('num', 'name', 'op'):
            value = match.group(kind)
            if value is not None:
                if kind == 'name':
                    value = value.upper()
                tokens.append((kind, value, match.start(kind)))
                break
    tokens.append(('end', '', end))
    return tokens


def _i32(x: float) -> int:
    """C cast of a double to a 32-bit signed int, as calcPerform does for bit ops."""
    if math.isnan(x) or math.isinf(x):
        return 0
    value = int(x) & 0xFFFFFFFF
    return value - 0x100000000 if value & 0x80000000 else value


def _truth(x: float) -> bool:
    return x != 0.0


def _safe(fn: Callable[..., float]) -> Callable[..., float]:
    """Wrap a math function so a domain error gives NaN and overflow +-inf, as in C."""
    def wrapped(*args: float) -> float:
        try:
            return float(fn(*args))
        except OverflowError:
            return math.inf
        except (ValueError, ZeroDivisionError):
            return math.nan
    return wrapped


def _divide(a: float, b: float) -> float:
    if b == 0.0:
        if a == 0.0 or math.isnan(a):
            return math.nan
        return math.copysign(math.inf, a) * math.copysign(1.0, b)
    return a / b


def _modulo(a: float, b: float) -> float:
    ia, ib = _i32(a), _i32(b)
    if ib == 0:
        raise CalcError('modulo by zero')
    result = abs(ia) % abs(ib)
    return float(-result if ia < 0 else result)


def _nint(x: float) -> float:
    if math.isnan(x) or math.isinf(x):
        return x
    return float(math.floor(x + 0.5) if x >= 0 else -math.floor(-x + 0.5))


def _power(a: float, b: float) -> float:
    try:
        return math.pow(a, b)
    except OverflowError:
        return math.inf
    except (ValueError, ZeroDivisionError):
        return math.nan


def _max(*args: float) -> float:
    if any(math.isnan(a) for a in args):
        return math.nan
    return max(args)


def _min(*args: float) -> float:
    if any(math.isnan(a) for a in args):
        return math.nan
    return min(args)


# name: (function, minimum args, maximum args (None: any))
_FUNCTIONS = {
    'ABS': (abs, 1, 1), 'SQR': (_safe(math.sqrt), 1, 1),
    'SQRT': (_safe(math.sqrt), 1, 1), 'EXP': (_safe(math.exp), 1, 1),
    'LOG': (_safe(math.log10), 1, 1), 'LN': (_safe(math.log), 1, 1),
    'LOGE': (_safe(math.log), 1, 1), 'LOG2': (_safe(math.log2), 1, 1),
    'SIN': (_safe(math.sin), 1, 1), 'COS': (_safe(math.cos), 1, 1),
    'TAN': (_safe(math.tan), 1, 1), 'ASIN': (_safe(math.asin), 1, 1),
    'ACOS': (_safe(math.acos), 1, 1), 'ATAN': (_safe(math.atan), 1, 1),
    # EPICS' ATAN2(a, b) is the C atan2(b, a).
    'ATAN2': (_safe(lambda a, b: math.atan2(b, a)), 2, 2),
    'SINH': (_safe(math.sinh), 1, 1), 'COSH': (_safe(math.cosh), 1, 1),
    'TANH': (_safe(math.tanh), 1, 1),
    'CEIL': (_safe(math.ceil), 1, 1), 'FLOOR': (_safe(math.floor), 1, 1),
    'NINT': (_nint, 1, 1),
    'ISNAN': (lambda *a: float(any(math.isnan(x) for x in a)), 1, None),
    'ISINF': (lambda *a: float(any(math.isinf(x) for x in a)), 1, None),
    'FINITE': (lambda *a: float(all(math.isfinite(x) for x in a)), 1, None),
    'MAX': (_max, 1, None), 'MIN': (_min, 1, None),
}

_CONSTANTS = {
    'PI': math.pi, 'D2R': math.pi / 180.0, 'R2D': 180.0 / math.pi,
    'S2R': math.pi / (180.0 * 3600.0), 'R2S': 180.0 * 3600.0 / math.pi,
}

_RANDOM = random.Random()

# Binary operators: token -> (binding power, right associative, function)
_BINARY = {
    '||': (2, False, lambda a, b: float(_truth(a) or _truth(b))),
    '&&': (3, False, lambda a, b: float(_truth(a) and _truth(b))),
    '|': (4, False, lambda a, b: float(_i32(a) | _i32(b))),
    'OR': (4, False, lambda a, b: float(_i32(a) | _i32(b))),
    'XOR': (4, False, lambda a, b: float(_i32(a) ^ _i32(b))),
    '&': (5, False, lambda a, b: float(_i32(a) & _i32(b))),
    'AND': (5, False, lambda a, b: float(_i32(a) & _i32(b))),
    '=': (6, False, lambda a, b: float(a == b)),
    '==': (6, False, lambda a, b: float(a == b)),
    '!=': (6, False, lambda a, b: float(a != b)),
    '#': (6, False, lambda a, b: float(a != b)),
    '<': (6, False, lambda a, b: float(a < b)),
    '<=': (6, False, lambda a, b: float(a <= b)),
    '>': (6, False, lambda a, b: float(a > b)),
    '>=': (6, False, lambda a, b: float(a >= b)),
    '<<': (7, False, lambda a, b: float(_i32(_i32(a) << (_i32(b) & 31)))),
    '>>': (7, False, lambda a, b: float(_i32(a) >> (_i32(b) & 31))),
    '>>>': (7, False, lambda a, b: float((_i32(a) & 0xFFFFFFFF) >> (_i32(b) & 31))),
    '+': (8, False, lambda a, b: a + b),
    '-': (8, False, lambda a, b: a - b),
    '*': (9, False, lambda a, b: a * b),
    '/': (9, False, _divide),
    '%': (9, False, _modulo),
    '^': (11, True, _power),
    '**': (11, True, _power),
}
_TERNARY_POWER = 1
_UNARY_POWER = 10
_UNARY = {
    '-': lambda a: -a,
    '+': lambda a: a,
    '!': lambda a: float(not _truth(a)),
    'NOT': lambda a: float(not _truth(a)),
    '~': lambda a: float(~_i32(a)),
}


class _Parser:
    """Pratt parser turning calc tokens into a tree of closures over the args list."""

    def __init__(self, expr: str, nargs: int):
        if len(expr) > MAX_EXPRESSION:
            raise CalcError(f'expression longer than {MAX_EXPRESSION} characters')
        self.expr = expr
        self.tokens = _tokenize(expr)
        self.index = 0
        self.nargs = nargs
        self.depth = 0

    def peek(self) -> Tuple[str, str, int]:
        return self.tokens[self.index]

    def take(self) -> Tuple[str, str, int]:
        token = self.tokens[self.index]
        if token[0] != 'end':
            self.index += 1
        return token

    def expect(self, value: str) -> None:
        kind, tok, pos = self.take()
        if tok != value or kind == 'end':
            found = 'end of expression' if kind == 'end' else repr(tok)
            raise CalcError(f'expected {value!r} at {pos}, found {found} in {self.expr!r}')

    def variable(self, name: str) -> Optional[int]:
        if len(name) == 1 and 'A' <= name <= 'Z':
            index = ord(name) - ord('A')
            if index < self.nargs:
                return index
        return None

    def program(self) -> _Node:
        statements = [self.statement()]
        while self.peek()[1] == ';' and self.peek()[0] == 'op':
            self.take()
            if self.peek()[0] == 'end':
                break
            statements.append(self.statement())
        kind, tok, pos = self.peek()
        if kind != 'end':
            raise CalcError(f'unexpected {tok!r} at {pos} in {self.expr!r}')
        if len(statements) == 1:
            return statements[0]

        def run(args: List[float], _statements=tuple(statements)) -> float:
            result = 0.0
            for statement in _statements:
                result = statement(args)
            return result
        return run

    def statement(self) -> _Node:
        kind, tok, _ = self.peek()
        nxt = self.tokens[self.index + 1] if self.index + 1 < len(self.tokens) else None
        if kind == 'name' and nxt is not None and nxt[1] == ':=':
            index = self.variable(tok)
            if index is None:
                raise CalcError(f'cannot assign to {tok!r} in {self.expr!r}')
            self.take()
            self.take()
            value = self.expression(0)

            def assign(args: List[float], _i=index, _v=value) -> float:
                result = _v(args)
                args[_i] = result
                return result
            return assign
        return self.expression(0)

    def expression(self, min_power: int) -> _Node:
        self.depth += 1
        if self.depth > MAX_DEPTH:
            raise CalcError(f'expression nested deeper than {MAX_DEPTH}')
        try:
            left = self.prefix()
            for _ in range(len(self.tokens)):
                kind, tok, _pos = self.peek()
                if kind not in ('op', 'name'):
                    break
                if tok == '?' and min_power <= _TERNARY_POWER:
                    self.take()
                    then = self.expression(0)
                    self.expect(':')
                    other = self.expression(_TERNARY_POWER)

                    def cond(args, _c=left, _t=then, _o=other):
                        return _t(args) if _truth(_c(args)) else _o(args)
                    left = cond
                    continue
                entry = _BINARY.get(tok)
                if entry is None:
                    break
                power, right_assoc, fn = entry
                if power < min_power:
                    break
                self.take()
                right = self.expression(power if right_assoc else power + 1)

                def binary(args, _f=fn, _l=left, _r=right):
                    return _f(_l(args), _r(args))
                left = binary
            return left
        finally:
            self.depth -= 1

    def prefix(self) -> _Node:
        kind, tok, pos = self.take()
        if kind == 'num':
            value = float(int(tok, 16)) if tok[:2].lower() == '0x' else float(tok)
            return lambda args, _v=value: _v
        if kind == 'op' and tok == '(':
            inner = self.expression(0)
            self.expect(')')
            return inner
        if tok in _UNARY and kind in ('op', 'name'):
            operand = self.expression(_UNARY_POWER)
            fn = _UNARY[tok]
            return lambda args, _f=fn, _o=operand: _f(_o(args))
        if kind == 'name':
            index = self.variable(tok)
            if index is not None:
                return lambda args, _i=index: args[_i]
            if tok in _CONSTANTS:
                value = _CONSTANTS[tok]
                return lambda args, _v=value: _v
            if tok == 'RNDM':
                return lambda args: _RANDOM.random()
            if tok == 'NRNDM':
                return lambda args: _RANDOM.gauss(0.0, 1.0)
            if tok in _FUNCTIONS:
                return self.call(tok)
            raise CalcError(f'unknown name {tok!r} at {pos} in {self.expr!r}')
        found = 'end of expression' if kind == 'end' else repr(tok)
        raise CalcError(f'unexpected {found} at {pos} in {self.expr!r}')

    def call(self, name: str) -> _Node:
        fn, min_args, max_args = _FUNCTIONS[name]
        self.expect('(')
        args = [self.expression(0)]
        for _ in range(len(self.tokens)):
            if self.peek()[1] != ',':
                break
            self.take()
            args.append(self.expression(0))
        self.expect(')')
        if len(args) < min_args or (max_args is not None and len(args) > max_args):
            raise CalcError(f'{name} takes {min_args}'
                            f'{"" if max_args == min_args else " or more"} '
                            f'argument(s), got {len(args)} in {self.expr!r}')
        nodes = tuple(args)
        return lambda a, _f=fn, _n=nodes: float(_f(*(n(a) for n in _n)))


class Calc:
    """A compiled calc expression; call it with the argument values (A, B, ...).

    The call may change the list when the expression assigns (``A:=...``).
    """

    def __init__(self, expression: str, nargs: int = 12):
        self.expression = expression
        self.nargs = nargs
        self._root = _Parser(expression, nargs).program()

    def __call__(self, args: List[float]) -> float:
        if len(args) < self.nargs:
            args.extend([0.0] * (self.nargs - len(args)))
        try:
            return float(self._root(args))
        except CalcError:
            raise
        except (ArithmeticError, ValueError, TypeError) as exc:
            raise CalcError(f'cannot evaluate {self.expression!r}: {exc}') from exc

    def __repr__(self) -> str:
        return f'Calc({self.expression!r})'


def compile_calc(expression: str, nargs: int = 12) -> Calc:
    """Compile a calc expression over ``nargs`` variables (A, B, ...).

    Parameters
    ----------
    expression : str
        The expression, in the syntax of EPICS calc records.
    nargs : int
        Number of variables: 12 (A-L) for a calc record, 16 (A-P) for transform.

    Returns
    -------
    Calc
        Callable taking a list of argument values and returning a float.

    Raises
    ------
    CalcError
        If the expression does not parse.
    """
    if not expression.strip():
        raise CalcError('empty expression')
    return Calc(expression, nargs)


# ---------------------------------------------------------------------------
# calc record
# ---------------------------------------------------------------------------
_CALC_LETTERS = 'ABCDEFGHIJKL'


class CalcRecord(SimRecord):
    """The calc record of EPICS base: VAL = CALC(A..L), inputs from INPA..INPL.

    synApps' scaler databases use these for the ``<scaler>_calcN`` PVs.  A put
    to CALC, A..L or PROC processes the record; inputs that name a PV of this
    server are read at each processing.  An expression that does not parse or
    evaluate leaves VAL unchanged and raises a CALC/INVALID alarm.
    """
    record_type = 'calc'

    def __init__(self, name: str, calc: str = '', inputs: Optional[Sequence[str]] = None,
                 desc: str = ''):
        self._init_calc = calc
        self._init_inputs = list(inputs or [])
        self._init_desc = desc
        super().__init__(name)
        self._compiled: Optional[Calc] = None
        self._calc_error: Optional[str] = None
        self._compile(calc)

    def fields(self) -> Iterable[Field]:
        specs: List[Field] = [dbl('VAL'), text('CALC', self._init_calc), sht('PREC', 3),
                              text('DESC', self._init_desc),
                              text('EGU'), dbl('HOPR'), dbl('LOPR'), sht('PROC'),
                              dbl('OVAL', ro=True)]
        for i, letter in enumerate(_CALC_LETTERS):
            link = self._init_inputs[i] if i < len(self._init_inputs) else ''
            specs += [dbl(letter), dbl('L' + letter, ro=True), text('INP' + letter, link)]
        return specs

    def _compile(self, expr: str) -> None:
        self._compiled = None
        self._calc_error = None
        if expr.strip():
            try:
                self._compiled = compile_calc(expr, len(_CALC_LETTERS))
            except CalcError as exc:
                self._calc_error = str(exc)

    async def on_put(self, field, value):
        if field == 'CALC':
            self._compile(value)
        return value

    async def after_put(self, field, value):
        if field == 'PREC':
            await self.set_metadata(['VAL', 'OVAL'] + list(_CALC_LETTERS), precision=value)
        elif field in ('CALC', 'PROC') or field in _CALC_LETTERS:
            await self._process()
        return None

    async def process(self) -> None:
        """Process the record (read inputs, evaluate, post VAL)."""
        async with self.lock:
            await self._process()

    async def _process(self) -> None:
        args = []
        for letter in _CALC_LETTERS:
            value = self.get(letter)
            link = self.get('INP' + letter)
            if link:
                chan = self.resolve_link(link)
                if chan is not None:
                    value = self.link_value(chan)
            args.append(value)
        for letter, value in zip(_CALC_LETTERS, args):
            await self.post(letter, value)
        if self._compiled is None:
            if self._calc_error is not None:
                await self.set_alarm(12, 3)     # CALC, INVALID
            else:
                await self.set_alarm(0, 0)
            return
        try:
            result = self._compiled(list(args))
        except CalcError:
            await self.set_alarm(12, 3)
            return
        await self.post('OVAL', self.get('VAL'))
        await self.post('VAL', result)
        for letter, value in zip(_CALC_LETTERS, args):
            await self.post('L' + letter, value)
        await self.set_alarm(0, 0)


# ---------------------------------------------------------------------------
# transform record
# ---------------------------------------------------------------------------
ROWS = 'ABCDEFGHIJKLMNOP'
#: transform's link-validity menu (IxV, OxV).
LINK_VALID = ('Ext PV NC', 'Ext PV OK', 'Local PV', 'Constant')
_EXT_NC, _EXT_OK, _LOCAL, _CONSTANT = range(4)


class TransformRecord(SimRecord):
    """The synApps transform record: 16 rows of value, expression, links, comment.

    Fields per row x (A..P): ``x`` value, ``Lx`` value at the last processing,
    ``CLCx`` expression, ``CxV`` expression valid (0 = valid, 1 = does not
    parse), ``INPx``/``OUTx`` links with validity ``IxV``/``OxV``, ``CMTx``
    comment; plus ``COPT`` (Conditional/Always) and ``PREC``.  A put to a value,
    an expression, COPT or PROC processes the record.
    """
    record_type = 'transform'

    def __init__(self, name: str):
        super().__init__(name)
        self._calcs: List[Optional[Calc]] = [None] * len(ROWS)

    def fields(self) -> Iterable[Field]:
        specs: List[Field] = [dbl('VAL'), menu('COPT', ('Conditional', 'Always'), 0),
                              sht('PREC', 3), text('EGU'), dbl('VERS', 5.8, ro=True),
                              sht('PROC'), lng('MAP', 0, ro=True)]
        for row in ROWS:
            specs += [dbl(row), dbl('L' + row, ro=True),
                      text('INP' + row), text('OUT' + row),
                      text('CLC' + row), text('CMT' + row),
                      menu(f'I{row}V', LINK_VALID, _CONSTANT, ro=True),
                      menu(f'O{row}V', LINK_VALID, _CONSTANT, ro=True),
                      lng(f'C{row}V', 0, ro=True)]
        return specs

    def _link_state(self, link: str) -> int:
        link = link.strip()
        if not link:
            return _CONSTANT
        try:
            float(link)
            return _CONSTANT
        except ValueError:
            pass
        return _LOCAL if self.resolve_link(link) is not None else _EXT_NC

    async def startup(self) -> None:
        # links may name records built after this one: check them all now
        for row in ROWS:
            for link_field, valid_field in (('INP' + row, f'I{row}V'),
                                            ('OUT' + row, f'O{row}V')):
                await self.post(valid_field, self._link_state(self.get(link_field)))

    async def on_put(self, field, value):
        if field.startswith('CLC') and len(field) == 4:
            index = ROWS.index(field[3])
            try:
                self._calcs[index] = compile_calc(value, len(ROWS)) if value.strip() else None
                valid = 0
            except CalcError:
                self._calcs[index] = None
                valid = 1
            await self.post(f'C{field[3]}V', valid)
        elif field.startswith('INP') and len(field) == 4:
            state = self._link_state(value)
            await self.post(f'I{field[3]}V', state)
            if state == _CONSTANT and value.strip():
                await self.post(field[3], float(value))
        elif field.startswith('OUT') and len(field) == 4:
            await self.post(f'O{field[3]}V', self._link_state(value))
        return value

    async def after_put(self, field, value):
        if field == 'PREC':
            await self.set_metadata(list(ROWS) + ['L' + r for r in ROWS], precision=value)
        elif (field in ROWS or field in ('COPT', 'PROC')
              or (field.startswith('CLC') and len(field) == 4)):
            await self._process()
        return None

    async def process(self) -> None:
        """Process the record (inputs, expressions in row order, outputs)."""
        async with self.lock:
            await self._process()

    async def _process(self) -> None:
        values = [float(self.get(row)) for row in ROWS]
        last = [float(self.get('L' + row)) for row in ROWS]
        always = self.get('COPT') == 1
        unchanged = [v == lv for v, lv in zip(values, last)]
        for i, row in enumerate(ROWS):
            if unchanged[i] and self.get(f'I{row}V') == _LOCAL:
                chan = self.resolve_link(self.get('INP' + row))
                if chan is not None:
                    values[i] = self.link_value(chan)
        alarm = False
        for i, row in enumerate(ROWS):
            calc = self._calcs[i]
            if calc is None or not (always or unchanged[i]):
                continue
            try:
                values[i] = calc(values)
            except CalcError:
                alarm = True
        for i, row in enumerate(ROWS):
            await self.post(row, values[i])
        for i, row in enumerate(ROWS):
            await self.post('L' + row, values[i])
        await self.set_alarm(12 if alarm else 0, 3 if alarm else 0)
        for i, row in enumerate(ROWS):
            if self.get(f'O{row}V') == _LOCAL:
                chan = self.resolve_link(self.get('OUT' + row))
                if chan is not None:
                    self.write_link(chan, values[i])
