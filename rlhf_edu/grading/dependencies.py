"""Which cells of a student notebook will raise until the exercises are done (static analysis).

In the student notebook an exercise function's body is ``raise NotImplementedError(...)``. Any
cell that *runs* such a function, or reads a name computed from one, raises too; nbval must be
told to expect that (the ``raises-exception`` tag), or ``pytest --nbval-lax notebooks/`` fails.

We follow the notebook top to bottom with ``ast``, one top-level statement at a time, keeping
``tainted``: the names whose value is unavailable while the exercises are unfinished.

- An exercise cell taints the functions it defines (calling them raises); a marked region at the
  top level of a cell makes the cell itself raise.
- A statement *executes* a read of a tainted name (not counting reads inside function or lambda
  bodies, which only run when called) -> the cell raises from there on; names the rest of the
  cell would define for the first time become tainted (reading them later is a NameError).
- A statement that runs fine but mentions a tainted name anywhere (e.g. a helper function that
  calls an exercise) taints the names it defines; one that mentions none cleans them.

IPython syntax (``%magic``, ``!shell``) is translated to plain Python first. The analysis errs on
the side of tagging: nbval accepts a tagged cell that does not raise, not the reverse.
"""

from __future__ import annotations

import ast
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

_SKIP_BODY = (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda)


def to_python(source: str) -> str:
    """Translate IPython cell syntax (magics, ``!`` commands) to plain Python."""
    try:
        from IPython.core.inputtransformer2 import TransformerManager

        return TransformerManager().transform_cell(source)
    except Exception:  # IPython missing or confused: blank out the magic lines
        lines = []
        for line in source.splitlines():
            stripped = line.lstrip()
            if stripped.startswith(("%", "!")):
                line = line[: len(line) - len(stripped)] + "pass"
            lines.append(line)
        return "\n".join(lines) + "\n"


def _executed_nodes(node: ast.AST) -> Iterable[ast.AST]:
    """Nodes evaluated when ``node`` runs: skips function and lambda bodies, keeps decorators,
    default values and annotations (evaluated at definition time)."""
    yield node
    if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
        children: list[ast.AST] = [*node.decorator_list, node.args]
        if node.returns is not None:
            children.append(node.returns)
    elif isinstance(node, ast.Lambda):
        children = [node.args]
    else:
        children = list(ast.iter_child_nodes(node))
    for child in children:
        yield from _executed_nodes(child)


def _loaded_names(nodes: Iterable[ast.AST]) -> set[str]:
    return {n.id for n in nodes if isinstance(n, ast.Name) and isinstance(n.ctx, ast.Load)}


def executed_reads(stmt: ast.AST) -> set[str]:
    """Names a statement reads when it runs (not inside function or lambda bodies)."""
    return _loaded_names(_executed_nodes(stmt))


def all_reads(stmt: ast.AST) -> set[str]:
    """Every name a statement mentions for reading, function bodies included."""
    return _loaded_names(ast.walk(stmt))


def stored_names(stmt: ast.AST) -> set[str]:
    """Global names a top-level statement binds (assignments, defs, imports, loop targets...)."""
    names: set[str] = set()
    for node in _executed_nodes(stmt):
        if isinstance(node, ast.Name) and isinstance(node.ctx, (ast.Store, ast.Del)):
            names.add(node.id)
        elif isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            names.add(node.name)
        elif isinstance(node, (ast.Import, ast.ImportFrom)):
            for alias in node.names:
                if alias.name != "*":
                    names.add(alias.asname or alias.name.split(".")[0])
        elif isinstance(node, ast.ExceptHandler) and node.name:
            names.add(node.name)
        elif isinstance(node, (ast.MatchAs, ast.MatchStar)) and node.name:
            names.add(node.name)
        elif isinstance(node, ast.MatchMapping) and node.rest:
            names.add(node.rest)
    return names


@dataclass
class CellAnalysis:
    """What one cell does to the set of unavailable names."""

    raises: bool
    tainted_after: frozenset[str]


@dataclass
class DependencyTracker:
    """Walks a notebook's code cells in order; see the module docstring."""

    tainted: set[str] = field(default_factory=set)
    defined: set[str] = field(default_factory=set)

    def cell(
        self, source: str, stripped_lines: Sequence[int] = (), solution_source: str | None = None
    ) -> CellAnalysis:
        """Analyse the next code cell.

        Args:
            source: the cell's source as the student sees it (solutions already stripped).
            stripped_lines: 1-based line numbers of the inserted ``raise NotImplementedError``.
            solution_source: the cell in the solution notebook, whose top-level names are missing
                from the student's namespace when the student's cell raises.
        """
        offset = 0
        if source.lstrip().startswith("%%"):
            # A cell magic (%%time, %%capture ...): its body is usually Python; analyse that.
            first, _, source = source.lstrip().partition("\n")
            offset = 1
            stripped_lines = [n - offset for n in stripped_lines]
        try:
            tree = ast.parse(to_python(source))
        except SyntaxError:
            # Not Python we understand (%%bash, say): assume it runs and binds nothing.
            return CellAnalysis(False, frozenset(self.tainted))
        raising = False
        stripped = set(stripped_lines)
        for stmt in tree.body:
            stores = stored_names(stmt)
            end = getattr(stmt, "end_lineno", stmt.lineno)
            has_stub = any(stmt.lineno <= line <= end for line in stripped)
            if not raising:
                if executed_reads(stmt) & self.tainted:
                    raising = True
                elif has_stub and not isinstance(
                    stmt, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)
                ):
                    raising = True  # a marked region at the top level of the cell
            if raising:
                self.tainted |= stores - self.defined
                continue
            if has_stub or all_reads(stmt) & self.tainted:
                self.tainted |= stores
            else:
                self.tainted -= stores
            self.defined |= stores
        if raising and solution_source is not None:
            self.tainted |= _top_level_stores(solution_source) - self.defined
        return CellAnalysis(raising, frozenset(self.tainted))


def _top_level_stores(source: str) -> set[str]:
    try:
        tree = ast.parse(to_python(source))
    except SyntaxError:
        return set()
    return set().union(*(stored_names(stmt) for stmt in tree.body))
