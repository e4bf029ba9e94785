"""Why a model could not be loaded, in one line that names the cause and the fix.

Keras' deserialization errors nest: "<class Sequential> could not be deserialized properly ...
config={...4,000 characters...}. Exception encountered: Could not locate class 'PixelScale'".
The cause is at the end. `describe_load_failure` turns the attempts of every library that tried
(`catdog.export.loaders`) into one `ModelLoadError` line:

* a class Keras could not find (Keras 3's "Could not locate class 'X'", tf_keras' "Unknown
  layer: 'X'" and "Cannot deserialize object of type `X`"): its name and `--custom-objects`;
* a Lambda layer Keras 3's safe mode refuses: rewrite it as a class for `--custom-objects`;
* a file written by Keras 2 with tf_keras not installed: the pip command;
* anything else: who wrote the file, then each library's innermost message, shortened in the
  middle (`catdog.errors.shorten_middle`).

The whole messages are kept in `ModelLoadError.details`, which `catdog-export --verbose` prints.
"""

from __future__ import annotations

import re
from pathlib import Path

from catdog.errors import CatdogError, shorten_middle

LEGACY_EXTRA = "pip install 'catdog[legacy]'"
CUSTOM_OBJECTS_HINT = "pass --custom-objects FILE.py defining it (docs/export-your-model.md)"
MISSING_CLASS_PATTERNS = (
    re.compile(r"Could not locate (?:class|function) '([^']+)'"),  # Keras 3
    re.compile(r"Unknown (?:layer|object|metric|loss|activation|initializer|regularizer|constraint): '?([\w.>]+)'?"),
    re.compile(r"Cannot deserialize object of type `([^`]+)`"),  # tf_keras, .keras files
)
CAUSE_LIMIT = 200


class ModelLoadError(CatdogError):
    """A model no installed library could read: one line with the cause; `details` holds every whole message."""

    def __init__(self, message: str, *, details: str):
        super().__init__(message)
        self.details = details


def missing_class(message: str) -> str | None:
    """The name of the class a Keras deserialization message says it could not find, or None."""
    for pattern in MISSING_CLASS_PATTERNS:
        if (found := pattern.search(message)) is not None:
            return found.group(1)
    return None


def innermost_cause(message: str) -> str:
    """The last "Exception encountered:" part of a nested Keras message (the root cause), else the message."""
    parts = re.split(r"Exception encountered:\s*", message.strip())
    return parts[-1].strip() or message.strip()


def describe_load_failure(path: Path, *, written_by: str | None, attempts: list[tuple[str, Exception | str]],
                          custom_objects: Path | None, keras_2_without_tf_keras: bool = False) -> ModelLoadError:
    """The one-line ModelLoadError for a model every library in `attempts` failed to read.

    `attempts` holds (library, its exception, or the reason it was not tried) in the order tried,
    the library that wrote the file first.
    """
    messages = [(library, error if isinstance(error, str) else (str(error).strip() or type(error).__name__))
                for library, error in attempts]
    details = "\n".join(f"{library}: {message}" for library, message in messages)
    origin = f" (written by {written_by})" if written_by else ""
    tried = [(library, message) for (library, error), (_, message) in zip(attempts, messages) if not isinstance(error, str)]
    for library, message in tried:
        if (name := missing_class(message)) is not None:
            short = name.split(">")[-1]
            if custom_objects is None:
                fix = CUSTOM_OBJECTS_HINT
            else:
                fix = f"--custom-objects {custom_objects} does not define it: add the class there"
            return ModelLoadError(f"cannot read model {path}{origin}: Could not locate class '{short}': {fix}",
                                  details=details)
    if any("deserialization of a `Lambda` layer" in message for _, message in tried):
        return ModelLoadError(f"cannot read model {path}{origin}: it holds a Lambda layer, which Keras 3's safe mode "
                              "will not load (that would run Python code stored in the file): in the notebook, replace it with a "
                              "layer class, save again and pass --custom-objects FILE.py defining the class "
                              "(docs/export-your-model.md)",
                              details=details)
    if keras_2_without_tf_keras:
        causes = "; ".join(shorten_middle(innermost_cause(message), limit=CAUSE_LIMIT) for _, message in tried)
        return ModelLoadError(f"cannot read model {path}{origin}: Keras 3 could not read this Keras 2 file ({causes}); "
                              f"tf_keras (Keras 2) reads it: {LEGACY_EXTRA}", details=details)
    causes = "; ".join(f"{library}: {shorten_middle(innermost_cause(message), limit=CAUSE_LIMIT)}"
                       for library, message in messages)
    return ModelLoadError(f"cannot read model {path}{origin}: {causes} (--verbose shows the whole messages)",
                          details=details)
