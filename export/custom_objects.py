"""`--custom-objects FILE.py`: a user's custom layers, imported from a file for Keras to deserialize a model with.

A model holding a class Keras does not know (a notebook's `class PixelScale(keras.layers.Layer)`)
cannot be read without that class: Keras then says "Could not locate class 'PixelScale'". The
user passes the Python file that defines it; `load_custom_objects` imports that file and
returns its public classes and functions by name, which `catdog.export.loaders` hands to Keras'
own `custom_object_scope` (Keras 3 and tf_keras alike). Importing the file also runs any
`@keras.saving.register_keras_serializable` decorators in it.

A class saved with `register_keras_serializable(package="nb")` is looked up by Keras 3 under its
registered name "nb>PixelScale", so `registered_aliases` adds those names, read from the .keras
file's config, for the classes the file defines: a plain copy of the class, without the
decorator, is then enough.
"""

from __future__ import annotations

import importlib.util
import inspect
import json
import sys
import zipfile
from pathlib import Path
from typing import Any

from catdog.errors import CatdogError, shorten_middle


def load_custom_objects(path: Path) -> dict[str, Any]:
    """Import the Python file at `path`; return its public classes and functions by name (CatdogError if it cannot)."""
    path = Path(path)
    if not path.exists():
        raise CatdogError(f"--custom-objects file not found: {path}")
    if not path.is_file() or path.suffix != ".py":
        raise CatdogError(f"--custom-objects {path}: expected a .py file defining the model's custom layers")
    name = f"catdog_custom_objects_{path.stem}"
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module  # classes pickle and dataclasses resolve through sys.modules
    sys.path.insert(0, str(path.parent.resolve()))  # so the file can import its neighbours
    try:
        spec.loader.exec_module(module)
    except Exception as error:  # noqa: BLE001 - any failure in the user's file is one line
        sys.modules.pop(name, None)
        raise CatdogError(f"cannot import --custom-objects {path}: {type(error).__name__}: "
                          f"{shorten_middle(str(error))}") from None
    finally:
        sys.path.remove(str(path.parent.resolve()))
    objects = {key: value for key, value in vars(module).items()
               if not key.startswith("_") and (inspect.isclass(value) or inspect.isfunction(value))
               and getattr(value, "__module__", None) == name}
    if not objects:
        raise CatdogError(f"--custom-objects {path} defines no class or function: define the model's custom layers there")
    return objects


def registered_aliases(model_path: Path, objects: dict[str, Any]) -> dict[str, Any]:
    """`objects` plus, for a .keras file, each "package>Name" its config registers for a class named in `objects`."""
    aliases = dict(objects)
    try:
        with zipfile.ZipFile(model_path) as archive:
            config = json.loads(archive.read("config.json"))
    except (OSError, KeyError, ValueError, zipfile.BadZipFile):
        return aliases
    pending = [config]
    while pending:
        item = pending.pop()
        if isinstance(item, dict):
            registered, class_name = item.get("registered_name"), item.get("class_name")
            if isinstance(registered, str) and class_name in objects:
                aliases.setdefault(registered, objects[class_name])
            pending.extend(item.values())
        elif isinstance(item, list):
            pending.extend(item)
    return aliases
