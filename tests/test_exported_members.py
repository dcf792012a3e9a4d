"""The public API is pinned: every exported name resolves to the object its module defines."""

import importlib
import subprocess
import sys

import dialpad_nb


def test_all_is_sorted_and_unique():
    assert dialpad_nb.__all__ == sorted(set(dialpad_nb.__all__))


def test_every_export_resolves_to_its_modules_object():
    for name in dialpad_nb.__all__:
        module = importlib.import_module(f"dialpad_nb.{dialpad_nb._EXPORTS[name]}")
        assert getattr(dialpad_nb, name) is getattr(module, name), name
        # and the defining module lists it publicly (no private names leak into the API)
        if hasattr(module, "__all__"):
            assert name in module.__all__, f"{name} not in {module.__name__}.__all__"


def test_unknown_name_raises_attribute_error():
    try:
        dialpad_nb.no_such_thing  # noqa: B018
    except AttributeError as exc:
        assert "no_such_thing" in str(exc)
    else:
        raise AssertionError("expected AttributeError")


def test_importing_the_package_loads_nothing_heavy():
    code = (
        "import sys, dialpad_nb; "
        "print(sorted(m for m in ('pandas', 'matplotlib', 'ipywidgets', 'httpx', 'starlette') if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"


def test_connect_is_the_function():
    from dialpad_nb.connection import connect

    assert dialpad_nb.connect is connect


def test_no_export_is_shadowed_by_a_submodule_of_the_same_name():
    # importing dialpad_nb.X sets the package attribute X to the module, so an exported
    # function named like a submodule would flip between function and module.
    import pkgutil

    submodules = {m.name for m in pkgutil.iter_modules(dialpad_nb.__path__)}
    assert not submodules & set(dialpad_nb.__all__)
