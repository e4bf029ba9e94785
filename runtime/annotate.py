"""`catdog-run --save DIR`: draw each result's label and confidence on its input and write it to DIR.

Images are written as images (same name and format, upright per EXIF); each video file,
URL or camera run becomes one MP4 ('mp4v') at the source's frame rate divided by `--every`,
so the video lasts as long as the source did. Existing files are never replaced: a name
already taken gets `_2`, `_3`, ... Drawing uses Pillow's default font; writing video needs
OpenCV (`pip install 'catdog[camera]'`), which reading video already does.

    from catdog.runtime.annotate import draw_prediction
    draw_prediction(Image.open("photo.jpg"), Classifier().predict("photo.jpg")).save("labelled.jpg")
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any, Iterator

import numpy as np
from PIL import Image, ImageDraw, ImageFont, ImageOps

from catdog.errors import CatdogError

# Frame rate written when a source does not report one (many webcams and streams).
FALLBACK_FPS = 30.0
BOX_COLOUR = (0, 0, 0)
TEXT_COLOUR = (255, 255, 255)


def caption(prediction) -> str:
    """The text drawn on an input: `dog 97.1%`."""
    return f"{prediction.label} {prediction.confidence:.1%}"


def draw_prediction(image: Image.Image, prediction) -> Image.Image:
    """Return an RGB copy of `image` with the prediction's label and confidence in a box, top left.

    The text height is about 5% of the image's shorter side (at least 10 px), so it reads the
    same on a thumbnail and on a 12-megapixel photo.
    """
    canvas = image.convert("RGB")  # always a copy, even for an RGB image
    size = max(10, round(min(canvas.size) * 0.05))
    try:
        font = ImageFont.load_default(size=size)
    except TypeError:  # Pillow < 10.1 has only the fixed bitmap font
        font = ImageFont.load_default()
    draw = ImageDraw.Draw(canvas)
    margin = max(2, size // 4)
    left, top, right, bottom = draw.textbbox((margin, margin), caption(prediction), font=font)
    draw.rectangle((0, 0, right + margin, bottom + margin), fill=BOX_COLOUR)
    draw.text((margin, margin), caption(prediction), font=font, fill=TEXT_COLOUR)
    return canvas


def reserve(folder: Path, name: str) -> Path:
    """Create and return `folder/name`, or `stem_2.ext`, `stem_3.ext`, ... if taken: never an existing file.

    The file is created exclusively (O_EXCL), so two inputs with the same name in one run,
    or a previous run's output, are never overwritten.
    """
    stem, suffix = Path(name).stem, Path(name).suffix
    for attempt in range(1, 100_000):
        path = folder / (name if attempt == 1 else f"{stem}_{attempt}{suffix}")
        try:
            with open(path, "xb"):
                return path
        except FileExistsError:
            continue
    raise CatdogError(f"cannot find a free file name for {name} in {folder}")


def stream_file_name(name: str) -> str:
    """The MP4 name for a stream: `clip.mp4` for clip.avi, `camera_0.mp4`, or the URL's last path part."""
    if name.startswith("camera:"):
        return f"camera_{name.split(':', 1)[1]}.mp4"
    if "://" in name:
        path = name.split("://", 1)[1].split("?", 1)[0].split("#", 1)[0]
        parts = path.rstrip("/").split("/")
        name = parts[-1] if len(parts) > 1 and parts[-1] else "stream"
    stem = re.sub(r"[^\w.-]+", "_", Path(name).stem) or "stream"
    return f"{stem}.mp4"


def annotated_format(path: Path) -> tuple[str, str]:
    """(Pillow format, file suffix) to write an annotated copy of `path`: its own, or PNG if Pillow cannot write that."""
    name = Image.registered_extensions().get(path.suffix.lower())
    if name is None or name not in Image.SAVE:
        return "PNG", ".png"
    return name, path.suffix


class StreamRecorder:
    """Wraps a stream's frame iterator, keeps the latest frame, and writes annotated frames to an MP4.

    `catdog.runtime.pipeline.classify_stream` reads frames through it (its `tap` hook); the
    run loop then hands it each of the stream's predictions, which arrive right after the
    frame they decide, before the next frame is read.
    """

    def __init__(self, saver: "AnnotationSaver", name: str, *, every: int):
        self.saver = saver
        self.name = name
        self.every = every
        self.frames: Any = None
        self.latest: Any = None
        self.path: Path | None = None
        self.writer: Any = None
        self.size: tuple[int, int] | None = None
        self.written = 0

    def __call__(self, frames: Any) -> "StreamRecorder":
        self.frames = frames
        return self

    def __iter__(self) -> Iterator[Any]:
        return self

    def __next__(self) -> Any:
        self.latest = next(self.frames)
        return self.latest

    @property
    def fps(self) -> float:
        """The source's frame rate over `every`, or FALLBACK_FPS when the source does not say."""
        fps = float(getattr(getattr(self.frames, "capture", None), "fps", 0.0) or 0.0)
        return (fps if fps > 0 else FALLBACK_FPS) / self.every

    def write(self, prediction) -> bool:
        """Draw `prediction` on the frame it decided and append it to the MP4; False if that frame is gone."""
        frame = self.latest
        image = getattr(frame, "image", None)
        if image is None or getattr(frame, "index", None) != prediction.frame:
            return False
        from catdog.runtime.live_capture import require_opencv

        cv2 = require_opencv()
        pixels = np.asarray(draw_prediction(Image.fromarray(image), prediction))
        if self.writer is None:
            self.size = (pixels.shape[1], pixels.shape[0])
            self.path = reserve(self.saver.folder, stream_file_name(self.name))
            self.writer = cv2.VideoWriter(str(self.path), cv2.VideoWriter_fourcc(*"mp4v"), self.fps, self.size)
            if not self.writer.isOpened():
                raise CatdogError(f"cannot write video {self.path}: OpenCV has no MP4 ('mp4v') encoder here")
        if (pixels.shape[1], pixels.shape[0]) != self.size:  # a reconnected camera may change resolution
            pixels = cv2.resize(pixels, self.size, interpolation=cv2.INTER_AREA)
        self.writer.write(cv2.cvtColor(pixels, cv2.COLOR_RGB2BGR))
        self.written += 1
        return True

    def close(self) -> None:
        """Stop the frame source, then finish the MP4 so it is playable (also on Ctrl-C)."""
        close = getattr(self.frames, "close", None)
        try:
            if callable(close):
                close()
        finally:
            self.finish()

    def finish(self) -> None:
        """Release the video writer and report the file; safe to call more than once."""
        if self.writer is not None:
            self.writer.release()
            self.writer = None
            self.saver.report(f"saved {self.path} ({self.written} frame{'s' if self.written != 1 else ''})")


class AnnotationSaver:
    """Everything `--save DIR` writes during one run: annotated images, and one MP4 per stream."""

    def __init__(self, folder: Path, *, every: int = 1):
        self.folder = Path(folder)
        if self.folder.exists() and not self.folder.is_dir():
            raise CatdogError(f"--save {folder}: that is a file, not a folder")
        try:
            self.folder.mkdir(parents=True, exist_ok=True)
        except OSError as error:
            raise CatdogError(f"--save {folder}: cannot create the folder ({error.strerror})") from None
        self.every = every
        self.images = 0
        self.recorders: dict[str, StreamRecorder] = {}
        self.messages: list[str] = []

    def tap(self, name: str) -> StreamRecorder:
        """A recorder for the stream called `name`, to pass as `classify_stream(..., tap=...)`."""
        recorder = StreamRecorder(self, name, every=self.every)
        self.recorders[name] = recorder
        return recorder

    def add(self, prediction) -> None:
        """Write the annotated input of one prediction; error records are skipped."""
        if prediction.error is not None or prediction.label is None:
            return
        if prediction.frame is not None:
            recorder = self.recorders.get(prediction.source)
            if recorder is not None:
                recorder.write(prediction)
            return
        if prediction.source is not None:
            self.save_image(Path(prediction.source), prediction)

    def save_image(self, source: Path, prediction) -> Path | None:
        """Write `source` with its prediction drawn on it under a free name; None if it cannot be reread."""
        try:
            with Image.open(source) as image:
                image = ImageOps.exif_transpose(image)
                annotated = draw_prediction(image, prediction)
        except (OSError, ValueError) as error:
            self.report(f"not saved: {source}: {error}")
            return None
        image_format, suffix = annotated_format(source)
        path = reserve(self.folder, source.stem + suffix)
        options = {"quality": 95} if image_format == "JPEG" else {}
        try:
            annotated.save(path, format=image_format, **options)
        except BaseException:
            path.unlink(missing_ok=True)  # no half-written file left under the reserved name
            raise
        self.images += 1
        return path

    def report(self, message: str) -> None:
        """Keep a line for the end-of-run summary."""
        self.messages.append(message)

    def close(self) -> list[str]:
        """Finish every video and return the summary lines (`saved 4 images to DIR`, `saved DIR/clip.mp4 ...`)."""
        for recorder in self.recorders.values():
            recorder.finish()
        lines = list(self.messages)
        if self.images:
            lines.insert(0, f"saved {self.images} annotated image{'s' if self.images != 1 else ''} to {self.folder}")
        self.messages.clear()
        return lines

