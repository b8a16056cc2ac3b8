"""Block instances that repeat one another: a later instance of a block with the same vars (one shared dict)
copies the layers an earlier one made, renamed under its own prefix, instead of expanding the entries again.

The second instance with given vars is recorded (a block whose params cannot be shared, e.g. a list, makes new
vars for every instance: never recorded), and only where its expansion was self-contained: no fault, no nested
block, cell or split, no reference by full path, and every input inside the instance. A copy that would pass the
layer or name length limit, or meet a name already taken, is expanded the ordinary way: its faults read the same.
"""
from __future__ import annotations


class BlockCopies:
    """Recordings of block instances for one spec expansion; `ex` is its netspec.spec._Expander (passed to each
    call, not held: the expander owns this)."""

    def __init__(self, decl_type, max_layers: int, max_path: int):
        self.decl_type = decl_type      # netspec.spec.LayerDecl
        self.max_layers, self.max_path = max_layers, max_path
        self.seen: dict = {}        # (block, id(vars), stack) -> vars: an instance with them was expanded
        self.recorded: dict = {}    # (block, id(vars), stack) -> (vars, [what each layer is, relative to the
        #                             prefix], the output, the longest relative name)

    @staticmethod
    def mark(ex) -> tuple:
        """The expander's counts before an instance is expanded (what recording compares with)."""
        return (len(ex.errors.diagnostics), len(ex.layers), len(ex.aliases), len(ex.splits), len(ex.cell_bodies),
                len(ex.broken), ex.path_refs)

    def record(self, ex, block: str, inner, stack: tuple, mark: tuple, out) -> None:
        """Remember what one instance made under `inner.prefix`, where it is self-contained."""
        key, prefix = (block, id(inner.vars), stack), inner.prefix
        if self.seen.get(key) is not inner.vars:
            self.seen[key] = inner.vars
            return
        if ex.too_many or not isinstance(out, str) or not out.startswith(prefix):
            return
        if self.mark(ex)[2:] != mark[2:] or len(ex.errors.diagnostics) != mark[0]:
            return
        cut, made = len(prefix), []
        for decl in ex.layers[mark[1]:]:
            if decl.scope is not inner.scope or not all(isinstance(i, str) and i.startswith(prefix)
                                                        for i in decl.inputs):
                return
            made.append((decl.name[cut:], decl.type, decl.attrs, decl.attr_pos, [i[cut:] for i in decl.inputs],
                         decl.pos, decl.faults))
        if not made:
            return
        self.recorded[key] = (inner.vars, made, out[cut:], max(len(m[0]) for m in made))

    def replay(self, ex, block: str, inner, stack: tuple) -> str | None:
        """The output of this instance made as a copy of a recorded one; None where none fits (expand it)."""
        known = self.recorded.get((block, id(inner.vars), stack))
        if known is None or known[0] is not inner.vars:
            return None
        _, made, out, longest = known
        prefix = inner.prefix
        layers, names = ex.layers, ex.full_names
        if len(layers) + len(made) - 1 > self.max_layers or len(prefix) + longest > self.max_path:
            return None
        fulls = [prefix + item[0] for item in made]
        if not names.isdisjoint(fulls):
            return None
        names.update(fulls)
        decl_type, scope = self.decl_type, inner.scope
        for full, (_, type_name, attrs, attr_pos, inputs, pos, faults) in zip(fulls, made):
            layers.append(decl_type(full, type_name, attrs, attr_pos, [prefix + i for i in inputs], pos, scope,
                                    faults))
        return prefix + out
