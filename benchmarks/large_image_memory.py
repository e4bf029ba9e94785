"""Peak memory of decoding one 100-megapixel image with the runtime's `load_image`.

Writes a 10,000 x 10,000 PNG (mostly flat, so about 100 KB on disk: the "decompression bomb"
shape from the bug report) and a JPEG of the same size, then decodes each in a fresh
subprocess and reports the growth of the process's peak resident memory (Linux VmHWM, reset
through /proc/self/clear_refs just before the decode) over its resident size then. Cases:

  png, no limit       max_pixels=None: a full decode, as every PNG got before the pixel limit
  png, default limit  max_pixels=DEFAULT_MAX_PIXELS: refused with ImageTooLargeError
  jpeg, default       draft mode decodes at 1/8 scale, under the limit
  49-MP png           7,000 x 7,000, just under the default limit: the most one decode may cost

    .venv/bin/python benchmarks/large_image_memory.py

Results go to benchmarks/results/large_image_memory.{json,md}.
"""

from __future__ import annotations

import json
import subprocess
import sys
import tempfile
from pathlib import Path

RESULTS = Path(__file__).resolve().parent / "results" / "large_image_memory"
SIDE = 10_000

MEASURE = r"""
import sys, warnings
warnings.simplefilter("ignore")

def status(field):
    for line in open("/proc/self/status"):
        if line.startswith(field + ":"):
            return int(line.split()[1])  # kB

from catdog.runtime.preprocess import DEFAULT_MAX_PIXELS, load_image
from catdog.runtime.spec import ModelSpec
spec = ModelSpec(image_size=(64, 64), labels=("cat", "dog"))
path, limit = sys.argv[1], sys.argv[2]
with open("/proc/self/clear_refs", "w") as clear:
    clear.write("5")  # reset the peak (VmHWM) to the current resident size
before = status("VmRSS")
try:
    load_image(path, spec=spec, max_pixels=None if limit == "none" else DEFAULT_MAX_PIXELS)
    outcome = "decoded"
except ValueError as error:
    outcome = type(error).__name__
after = status("VmHWM")
print(f"{(after - before) / 1024:.1f} {outcome}")
"""


def write_images(folder: Path) -> dict[str, Path]:
    """Write the 100-MP PNG and JPEG; each is decoded once here, outside the measured processes."""
    from PIL import Image, ImageDraw

    image = Image.new("RGB", (SIDE, SIDE), (200, 180, 150))
    ImageDraw.Draw(image).ellipse((2000, 2000, 8000, 8000), fill=(40, 60, 90))
    paths = {"png": folder / "huge.png", "jpeg": folder / "huge.jpg", "png49": folder / "at_limit.png"}
    image.save(paths["png"], optimize=True)
    image.save(paths["jpeg"], quality=85)
    image.resize((7000, 7000)).save(paths["png49"], optimize=True)
    return paths


def measure(path: Path, limit: str) -> tuple[float, str]:
    """Return (peak MB growth, outcome) of one decode in a fresh process."""
    output = subprocess.run([sys.executable, "-c", MEASURE, str(path), limit], capture_output=True, text=True,
                            check=True).stdout.split()
    return float(output[0]), output[1]


def main() -> None:
    from catdog.measure.machine import describe_machine

    with tempfile.TemporaryDirectory() as temporary:
        paths = write_images(Path(temporary))
        sizes = {name: path.stat().st_size for name, path in paths.items()}
        rows = []
        for name, path, limit, label in (("png", paths["png"], "none", "png, no limit (--max-pixels 0)"),
                                         ("png", paths["png"], "default", "png, default limit"),
                                         ("jpeg", paths["jpeg"], "default", "jpeg, default (draft)"),
                                         ("png49", paths["png49"], "default", "49-MP png, default limit")):
            peak_mb, outcome = measure(path, limit)
            rows.append({"case": label, "file_kb": round(sizes[name] / 1024), "peak_mb": peak_mb, "outcome": outcome})
    machine = describe_machine(threads=1)
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.with_suffix(".json").write_text(json.dumps({"machine": machine, "rows": rows}, indent=2) + "\n")
    lines = ["| case | file | peak memory growth | outcome |", "|---|---|---|---|"]
    lines += [f"| {row['case']} | {row['file_kb']} KB | {row['peak_mb']:.0f} MB | {row['outcome']} |" for row in rows]
    table = "\n".join(lines) + f"\n\nMachine: {machine['cpu']}, {machine['cores']} cores\n"
    RESULTS.with_suffix(".md").write_text(table)
    print(table)


if __name__ == "__main__":
    main()
