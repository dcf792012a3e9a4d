"""Two cell magics for notebooks that run on a sandbox and on a Dialpad account (``%load_ext dialpad_nb``).

``%%sandbox_only <what the cell shows>``
    Runs the cell when ``client`` talks to a sandbox (its control API is there: placing calls,
    moving the clock, the attempts and the outbox). On a Dialpad account the cell is not run; it
    prints that it was skipped and why.

``%%changes <what the cell would do>``
    Runs the cell when ``client`` may change what it talks to: always on a sandbox; on a Dialpad
    account only when it was made with ``connect(allow_changes=True)`` (the notebooks'
    ``ALLOW_CHANGES = True``). Otherwise the cell is not run and says what it would have done.

Both read the client from the notebook's variable ``client``. A cell that runs behaves exactly as
without the magic: its last expression is shown, its errors are raised. (Even a cell run by mistake
changes nothing on a look-only client: the client itself refuses every request that would,
:class:`~dialpad_nb.core.errors.ChangesNotAllowed`.)
"""

from __future__ import annotations

import ast
from typing import Any

__all__ = ["load_ipython_extension", "run_cell_body"]


def run_cell_body(shell: Any, cell: str) -> Any:
    """Run ``cell`` in the notebook's namespace as IPython would (its magics, its last expression's
    value returned so that it is displayed; a trailing ``;`` hides it)."""
    __tracebackhide__ = True  # IPython hides this frame in tracebacks
    code = shell.transform_cell(cell)
    tree = shell.transform_ast(ast.parse(code))
    last = None
    if tree.body and isinstance(tree.body[-1], ast.Expr) and not code.rstrip().endswith(";"):
        last = ast.Expression(tree.body.pop().value)
    filename = shell.compile.cache(code, shell.execution_count, raw_code=cell)
    exec(compile(tree, filename, "exec"), shell.user_ns)
    if last is not None:
        return eval(compile(last, filename, "eval"), shell.user_ns)
    return None


def _client(shell: Any) -> Any:
    client = shell.user_ns.get("client")
    if client is None or not hasattr(client, "may_change"):
        from IPython.core.error import UsageError

        raise UsageError(
            "this cell magic reads the notebook's `client`: run client = dialpad_nb.connect() first"
        )
    return client


def load_ipython_extension(shell: Any) -> None:
    """Register ``%%sandbox_only`` and ``%%changes`` (``%load_ext dialpad_nb``)."""

    def sandbox_only(line: str, cell: str) -> Any:
        """Run this cell on a sandbox only; on a Dialpad account say it was skipped and why."""
        __tracebackhide__ = True
        client = _client(shell)
        if client.is_sandbox:
            return run_cell_body(shell, cell)
        why = f" ({line.strip()})" if line.strip() else ""
        print(f"[sandbox only] not run on {client.label}{why}: a Dialpad account has no control API.")
        return None

    def changes(line: str, cell: str) -> Any:
        """Run this cell only when the client may change its account; else say what it would do."""
        __tracebackhide__ = True
        client = _client(shell)
        if client.may_change:
            return run_cell_body(shell, cell)
        what = line.strip() or "change your account"
        print(
            f"[look only] not run: it would {what}. Nothing was changed on {client.label} "
            "(ALLOW_CHANGES = False in the parameters cell)."
        )
        return None

    shell.register_magic_function(sandbox_only, "cell", "sandbox_only")
    shell.register_magic_function(changes, "cell", "changes")
