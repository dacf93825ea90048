"""Find a strategy class by built-in name or in a user's .py file, and turn CLI parameters into values."""

from __future__ import annotations

import ast
import importlib.util
import inspect
import sys
from pathlib import Path
from types import ModuleType
from typing import Any

from tradeforge.core.errors import ConfigError
from tradeforge.core.strategy import Strategy
from tradeforge.strategies import BUILTIN


def load_strategy_class(ref: str) -> type[Strategy]:
    """'sma_cross' (built-in), 'ml' (tradeforge.ml.strategy.MLStrategy: a model decides, with retraining),
    'path/to/file.py' (its only Strategy subclass) or 'file.py:ClassName'."""
    if ref in BUILTIN:
        return BUILTIN[ref]
    if ref == "ml":  # imported on demand: it brings scikit-learn
        from tradeforge.ml.strategy import MLStrategy

        return MLStrategy
    path_text, _, class_name = ref.partition(":")
    path = Path(path_text)
    if path.suffix != ".py":
        raise ConfigError(
            f"unknown strategy {ref!r}: use a built-in name ({', '.join(sorted([*BUILTIN, 'ml']))}) or a file "
            "such as my_strategy.py or my_strategy.py:MyStrategy"
        )
    if not path.is_file():
        raise ConfigError(f"strategy file {path} does not exist")
    module = import_user_file(path)
    module_name = module.__name__
    found = {
        name: obj
        for name, obj in vars(module).items()
        if inspect.isclass(obj) and issubclass(obj, Strategy) and obj is not Strategy and obj.__module__ == module_name
    }
    found.update(_backtesting_py_classes(module))
    if class_name:
        if class_name not in found:
            raise ConfigError(f"{path} has no Strategy subclass {class_name!r}; it has: {', '.join(found) or 'none'}")
        return found[class_name]
    if len(found) != 1:
        raise ConfigError(
            f"{path} defines {len(found)} Strategy subclasses ({', '.join(found) or 'none'}): "
            f"name one, e.g. {path}:{next(iter(found), 'MyStrategy')}"
        )
    return next(iter(found.values()))


def _backtesting_py_classes(module: ModuleType) -> dict[str, type[Strategy]]:
    """The file's Backtesting.py strategies (tradeforge.compat.Strategy subclasses), each hosted as a tradeforge
    Strategy so that backtest, replay, paper and live run it (tradeforge.compat.hosted)."""
    if "tradeforge.compat.strategy" not in sys.modules:  # the file never imported tradeforge.compat
        return {}
    from tradeforge.compat.hosted import hosted
    from tradeforge.compat.strategy import Strategy as CompatStrategy

    return {
        name: hosted(obj)
        for name, obj in vars(module).items()
        if inspect.isclass(obj)
        and issubclass(obj, CompatStrategy)
        and obj.__module__ == module.__name__
        and not getattr(obj, "__abstractmethods__", None)
    }


def import_user_file(path: Path) -> ModuleType:
    """Import a user's .py file as a module (errors in it become a ConfigError naming the file)."""
    module_name = f"tradeforge_user_{path.stem}"
    spec = importlib.util.spec_from_file_location(module_name, path)
    if spec is None or spec.loader is None:
        raise ConfigError(f"cannot import {path} as a Python module")
    module = importlib.util.module_from_spec(spec)
    sys.modules[module_name] = module
    try:
        spec.loader.exec_module(module)
    except Exception as exc:
        raise ConfigError(f"importing {path} failed: {type(exc).__name__}: {exc}") from exc
    return module


def parse_params(items: list[str], strategy: type[Strategy]) -> dict[str, Any]:
    """['fast=5', 'slow=30'] -> {'fast': 5, 'slow': 30}, checked against the strategy's parameters."""
    declared = strategy.parameters()
    out: dict[str, Any] = {}
    for item in items:
        key, sep, text = item.partition("=")
        key = key.strip()
        if not sep or not key:
            raise ConfigError(f"parameter {item!r} must look like name=value, e.g. fast=10")
        if key not in declared:
            known = ", ".join(f"{k}={v!r}" for k, v in declared.items()) or "none"
            raise ConfigError(f"{strategy.__name__} has no parameter {key!r}; its parameters are: {known}")
        try:
            value: Any = ast.literal_eval(text)
        except (ValueError, SyntaxError):
            value = text
        default = declared[key]
        if isinstance(default, bool) and not isinstance(value, bool):
            raise ConfigError(f"parameter {key} takes True or False, got {text!r}")
        if isinstance(default, (int, float)) and not isinstance(default, bool):
            if not isinstance(value, (int, float)) or isinstance(value, bool):
                raise ConfigError(f"parameter {key} takes a number (default {default!r}), got {text!r}")
            if isinstance(default, float):
                value = float(value)
        out[key] = value
    return out
