"""STAND-IN for Picamera2, for tests and CI only. This is NOT Picamera2: no libcamera, no camera.

Real Raspberry Pi cameras cannot be had in CI, so this module imitates the part of Picamera2's
documented API (the Picamera2 manual and picamera2/picamera2.py) that catdog uses, with the
same names, defaults, errors and, above all, the same channel order:

- `Picamera2.global_camera_info()` lists cameras as dicts with Model, Location, Rotation, Id, Num.
- `Picamera2(camera_num=N)` raises IndexError for a camera that is not listed (as the real
  class does, via `global_camera_info()[camera_num]`) and RuntimeError("Camera __init__ sequence
  did not complete.") for one another process or object holds.
- `create_video_configuration(main={"format": ..., "size": ...})` returns a dict whose defaults
  match the real ones (main XBGR8888 1280x720, FrameDurationLimits 33333 us, i.e. 30 fps).
- `configure()`, `start()`, `capture_array(name="main", wait=None)`, `stop()`, `close()`.
  With a number for `wait`, a frame that does not come in time raises TimeoutError, as the real
  `job.get_result(timeout)` does.
- Formats are named as libcamera names them, little-endian: an "RGB888" array holds B, G, R
  per pixel, "BGR888" R, G, B, "XRGB8888" B, G, R, 255 and "XBGR8888" R, G, B, 255
  (picamera2#191, #848). A consumer that forgets the swap sees red as blue.

What the camera sees and does is set by environment variables (for subprocesses and CI):
    PICAMERA2_STANDIN_SCENE    an image file, or red/green/blue/white/black; default: three
                               vertical bands, red, green, blue from left to right
    PICAMERA2_STANDIN_CAMERAS  how many CSI cameras libcamera lists (default 1; 0 for none)
    PICAMERA2_STANDIN_FPS      frame rate (default: the configuration's FrameDurationLimits)
    PICAMERA2_STANDIN_EVENTS   a file to which every open, start, stop and close is appended
or, in tests, by the module attributes `scene` (an (H, W, 3) RGB uint8 array), `cameras` (a
list of info dicts), `frame_budget` (frames each camera opened from now on delivers before
its captures time out, in order; None: forever) and `opened` (every Picamera2 made).
"""

from __future__ import annotations

import os
import threading
import time
from typing import Any, Optional

import numpy as np

STANDIN = True  # lets a caller (and a test) tell this module from the real one

COLOURS = {"red": (255, 0, 0), "green": (0, 255, 0), "blue": (0, 0, 255), "white": (255, 255, 255),
           "black": (0, 0, 0)}
# Where each RGB channel goes in memory, per libcamera format name; 4-channel formats add X = 255.
MEMORY_ORDER = {"RGB888": (2, 1, 0), "BGR888": (0, 1, 2), "XRGB8888": (2, 1, 0), "XBGR8888": (0, 1, 2)}

scene: Optional[np.ndarray] = None
cameras: Optional[list[dict[str, Any]]] = None
frame_budget: list[Optional[int]] = []
opened: list["Picamera2"] = []
_held: set[int] = set()
_held_lock = threading.Lock()


def listed_cameras() -> list[dict[str, Any]]:
    """The cameras libcamera would list: `cameras`, or PICAMERA2_STANDIN_CAMERAS Camera Module 3s."""
    if cameras is not None:
        return [dict(info) for info in cameras]
    count = int(os.environ.get("PICAMERA2_STANDIN_CAMERAS", "1"))
    return [{"Model": "imx708", "Location": 2, "Rotation": 180, "Num": number,
             "Id": f"/base/axi/pcie@120000/rp1/i2c@{88000 + 4000 * number}/imx708@1a"} for number in range(count)]


def scene_rgb() -> np.ndarray:
    """What the camera sees, as (H, W, 3) uint8 RGB."""
    if scene is not None:
        return np.asarray(scene, dtype=np.uint8)
    setting = os.environ.get("PICAMERA2_STANDIN_SCENE", "")
    if setting.lower() in COLOURS:
        return np.full((480, 640, 3), COLOURS[setting.lower()], np.uint8)
    if setting:
        from PIL import Image

        with Image.open(setting) as image:
            return np.asarray(image.convert("RGB"))
    bands = np.zeros((480, 640, 3), np.uint8)
    for band, colour in enumerate(("red", "green", "blue")):
        bands[:, band * 640 // 3:(band + 1) * 640 // 3] = COLOURS[colour]
    return bands


def record(event: str) -> None:
    """Append one event line to PICAMERA2_STANDIN_EVENTS, if set."""
    path = os.environ.get("PICAMERA2_STANDIN_EVENTS")
    if path:
        with open(path, "a", encoding="utf-8") as events:
            events.write(event + "\n")


class Picamera2:
    """STAND-IN for picamera2.Picamera2: one listed camera, opened, configured, started and read."""

    def __init__(self, camera_num: int = 0, verbose_console=None, tuning=None, allocator=None):
        self.is_open = False
        self.started = False
        self.camera_config: Optional[dict[str, Any]] = None
        info = self.global_camera_info()[camera_num]  # IndexError for an unlisted camera, like the real class
        self.camera_idx = info["Num"]
        with _held_lock:
            if self.camera_idx in _held:
                raise RuntimeError("Camera __init__ sequence did not complete.")
            _held.add(self.camera_idx)
        self.camera_properties = {"Model": info["Model"], "Location": info["Location"], "Rotation": info["Rotation"]}
        self.is_open = True
        self.close_calls = 0
        self.frames = 0
        self._budget = frame_budget.pop(0) if frame_budget else None
        self._started_at = 0.0
        opened.append(self)
        record(f"open {self.camera_idx}")

    @staticmethod
    def global_camera_info() -> list[dict[str, Any]]:
        """Id, Model, Location, Rotation and Num of every attached camera (CSI cameras first)."""
        return listed_cameras()

    def create_video_configuration(self, main={}, lores=None, raw={}, transform=None, colour_space=None,
                                   buffer_count=6, controls={}, display="main", encode="main", queue=True,
                                   sensor={}, use_case="video") -> dict[str, Any]:
        """A video configuration dict, with the real defaults for whatever `main` leaves out."""
        main = {"format": "XBGR8888", "size": (1280, 720), "preserve_ar": True, **main}
        controls = {"NoiseReductionMode": 1, "FrameDurationLimits": (33333, 33333), **controls}
        return {"use_case": use_case, "transform": transform, "colour_space": colour_space,
                "buffer_count": buffer_count, "queue": queue, "main": main, "lores": lores, "raw": raw,
                "controls": controls, "sensor": sensor, "display": display, "encode": encode}

    def configure(self, camera_config: dict[str, Any]) -> None:
        """Apply a configuration; only RGB formats are supported by this stand-in."""
        if self.started:
            raise RuntimeError("Camera must be stopped before configuring")
        if camera_config["main"]["format"] not in MEMORY_ORDER:
            raise RuntimeError(f"stand-in Picamera2 has no format {camera_config['main']['format']}")
        if any(int(side) % 2 for side in camera_config["main"]["size"]):
            raise RuntimeError("width and height should be even")
        self.camera_config = {**camera_config, "main": dict(camera_config["main"])}
        width, height = camera_config["main"]["size"]
        from PIL import Image

        view = Image.fromarray(scene_rgb()).resize((int(width), int(height)), Image.BILINEAR)
        self._rgb = np.asarray(view)

    def start(self, config=None, show_preview=False) -> None:
        """Start the camera; frames come at the configured rate from now on."""
        if config is not None:
            self.configure(config)
        if self.camera_config is None:
            raise RuntimeError("Camera has not been configured")
        self.started = True
        self._started_at = time.perf_counter()
        record(f"start {self.camera_idx}")

    @property
    def frame_rate(self) -> float:
        """Frames per second: PICAMERA2_STANDIN_FPS, or 1e6 / the configuration's shortest frame duration."""
        if os.environ.get("PICAMERA2_STANDIN_FPS"):
            return float(os.environ["PICAMERA2_STANDIN_FPS"])
        return 1e6 / self.camera_config["controls"]["FrameDurationLimits"][0]

    def capture_array(self, name: str = "main", wait=None, signal_function=None) -> np.ndarray:
        """The next frame of `name` as an array in the configured format's memory order."""
        if name != "main":
            raise RuntimeError(f"stand-in Picamera2 has no stream {name!r}")
        timeout = None if wait is None or wait is True else float(wait)
        if not (self.is_open and self.started) or (self._budget is not None and self.frames >= self._budget):
            # No frame will come: the real call waits for `wait` seconds (or forever) first.
            if timeout is None:
                raise RuntimeError("stand-in Picamera2: no frame will come and no timeout was given")
            time.sleep(timeout)
            raise TimeoutError()
        due = self._started_at + (self.frames + 1) / self.frame_rate
        delay = due - time.perf_counter()
        if timeout is not None and delay > timeout:
            time.sleep(timeout)
            raise TimeoutError()
        if delay > 0:
            time.sleep(delay)
        self.frames += 1
        fmt = self.camera_config["main"]["format"]
        pixels = self._rgb[..., list(MEMORY_ORDER[fmt])]
        if fmt.startswith("X"):
            pixels = np.concatenate([pixels, np.full(pixels.shape[:2] + (1,), 255, np.uint8)], axis=-1)
        return np.ascontiguousarray(pixels)

    def stop(self) -> None:
        """Stop the camera; safe when it is not running."""
        if self.started:
            self.started = False
            record(f"stop {self.camera_idx}")

    def close(self) -> None:
        """Stop and release the camera; safe to call more than once."""
        self.stop()
        self.close_calls += 1
        if self.is_open:
            self.is_open = False
            with _held_lock:
                _held.discard(self.camera_idx)
            record(f"close {self.camera_idx}")

    def __enter__(self) -> "Picamera2":
        return self

    def __exit__(self, *exc_info) -> None:
        self.close()


def reset() -> None:
    """Forget every setting and camera made (for tests)."""
    global scene, cameras
    scene, cameras = None, None
    frame_budget.clear()
    opened.clear()
    with _held_lock:
        _held.clear()
