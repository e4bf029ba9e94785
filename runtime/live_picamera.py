"""Raspberry Pi CSI cameras (Camera Module 2 and 3, HQ, ...) through Picamera2: `catdog-run --camera picam`.

On Raspberry Pi OS Bookworm these cameras are served by libcamera, which `cv2.VideoCapture`
cannot open (opencv#22820); Picamera2 is the supported way in. It is an apt package
(python3-picamera2), not a pip one, so a venv sees it only when made with
`--system-site-packages`; it is imported inside functions only.

`PicameraDevice` offers the five `cv2.VideoCapture` methods `catdog.runtime.live_capture.Capture`
calls (isOpened, grab, retrieve, get, release), so a Picamera2 camera shares everything else
with the OpenCV cameras: the reader thread and newest-frame-only delivery, capture-to-decision
latency, `--save`, reconnection with backoff, and a clean close on Ctrl-C or SIGTERM.

Colour: Picamera2 names formats as libcamera does, little-endian, so an "RGB888" array holds
B, G, R per pixel and an "XRGB8888" array B, G, R, X (picamera2#191, #848). That is exactly
OpenCV's BGR and BGRA layout: `retrieve()` hands frames over in OpenCV's convention, and the
one conversion, `catdog.runtime.live_device.to_rgb`, makes them RGB.
"""

from __future__ import annotations

import logging
import re
from pathlib import Path
from typing import Any, Optional

from catdog.errors import CatdogError, MissingExtraError
from catdog.runtime.live_device import PROP_FPS, PROP_FRAME_HEIGHT, PROP_FRAME_WIDTH

LOGGER = logging.getLogger(__name__)

# "RGB888": B, G, R bytes per pixel, OpenCV's BGR (see the module docstring).
PICAMERA_FORMAT = "RGB888"
# Frames as the ISP scales them: enough for any catdog model and a watchable --save video.
PICAMERA_SIZE = (640, 480)
# capture_array's wait: a camera that stops delivering fails a grab after this many seconds,
# which starts reconnection and bounds how long close() waits for the reader thread.
GRAB_TIMEOUT = 1.0
# `--camera picam` or `--camera picam:N`.
PICAMERA_PATTERN = re.compile(r"picam(?::(\d+))?")
INSTALL_HINT = ("sudo apt install python3-picamera2, and make the venv with "
                "python3 -m venv --system-site-packages (see docs/raspberry-pi.md)")


def parse_picamera(text: Any) -> Optional[int]:
    """The camera number of `picam` (0) or `picam:N` (N); None for anything else."""
    match = PICAMERA_PATTERN.fullmatch(text.strip().lower()) if isinstance(text, str) else None
    return None if match is None else int(match.group(1) or 0)


def require_picamera2():
    """Import and return the picamera2 module, or raise one line saying how to install or mend it."""
    try:
        import picamera2
    except ModuleNotFoundError as error:
        if error.name == "picamera2":
            raise MissingExtraError(f"Picamera2 is not installed: {INSTALL_HINT}") from None
        raise CatdogError(unimportable_message(error)) from None
    except (ImportError, ValueError, AttributeError) as error:
        raise CatdogError(unimportable_message(error)) from None
    return picamera2


def unimportable_message(error: BaseException) -> str:
    """Say that the system's Picamera2 is there but breaks on import, and the usual cause in a venv."""
    import numpy

    detail = (str(error).strip().splitlines() or [type(error).__name__])[0]
    message = f"Picamera2 is installed but cannot be imported ({detail})"
    if int(numpy.__version__.split(".")[0]) >= 2:
        # Raspberry Pi OS builds its python3-* packages against its own NumPy 1.x (picamera2#1088).
        message += (f"; the venv's NumPy {numpy.__version__} is newer than the one Raspberry Pi OS's packages are "
                    "built for: pip install 'numpy<2', and take OpenCV from apt (python3-opencv), not catdog[camera]")
    return message


def list_picameras(picamera2) -> list[dict[str, Any]]:
    """The CSI cameras libcamera lists (Picamera2 numbers them first; USB webcams, last, are left out)."""
    return [info for info in picamera2.Picamera2.global_camera_info() if "/usb" not in str(info.get("Id", ""))]


def describe_cameras(cameras: list[dict[str, Any]]) -> str:
    """`picam:0 imx708, picam:1 imx477` for messages."""
    return ", ".join(f"picam:{number} {info.get('Model', '?')}" for number, info in enumerate(cameras))


class PicameraDevice:
    """One Picamera2 camera behind the part of cv2.VideoCapture's interface that Capture uses.

    Opening never raises but for a missing Picamera2: a camera that cannot be opened comes back
    with `isOpened()` False and `failure` saying why, so that Capture reports it once at start
    and counts it as one failed attempt when reconnecting.
    """

    def __init__(self, camera_num: int, *, size: tuple[int, int] = PICAMERA_SIZE, fmt: str = PICAMERA_FORMAT,
                 grab_timeout: float = GRAB_TIMEOUT):
        picamera2 = require_picamera2()
        self.camera_num = camera_num
        self.grab_timeout = grab_timeout
        self.failure: Optional[str] = None
        self._camera = None
        self._pixels = None
        self._config: dict[str, Any] = {}
        cameras = list_picameras(picamera2)
        if not cameras:
            self.failure = ("no Raspberry Pi camera found: libcamera lists none; check the ribbon cable, then "
                            "rpicam-hello --list-cameras")
            return
        if camera_num >= len(cameras):
            self.failure = f"no Raspberry Pi camera picam:{camera_num}: libcamera lists {describe_cameras(cameras)}"
            return
        camera = None
        try:
            camera = picamera2.Picamera2(camera_num=camera_num)
            camera.configure(camera.create_video_configuration(main={"format": fmt, "size": size}))
            camera.start()
        except (RuntimeError, OSError, IndexError, ValueError) as error:
            if camera is not None:
                close_quietly(camera)
            self.failure = (f"cannot open Raspberry Pi camera picam:{camera_num} ({cameras[camera_num].get('Model')}):"
                            f" {error or type(error).__name__}; is another program (rpicam-*, another catdog-run) "
                            "using it?")
            return
        self._camera = camera
        # libcamera may adjust what was asked for; the configuration applied says what frames will be.
        self._config = dict(getattr(camera, "camera_config", None) or {})

    def isOpened(self) -> bool:  # noqa: N802 - cv2.VideoCapture's name
        """True while the camera is open and started."""
        return self._camera is not None

    def grab(self) -> bool:
        """Wait for the next frame; False if none comes within `grab_timeout` or the camera failed."""
        if self._camera is None:
            return False
        try:
            self._pixels = self._camera.capture_array("main", wait=self.grab_timeout)
        except (TimeoutError, RuntimeError, OSError) as error:
            LOGGER.debug("picam:%d: no frame (%s)", self.camera_num, error or type(error).__name__)
            self._pixels = None
            return False
        return self._pixels is not None

    def retrieve(self) -> tuple[bool, Any]:
        """The frame grabbed last, in OpenCV's BGR (3 channels) or BGRA (4) layout."""
        pixels, self._pixels = self._pixels, None
        return pixels is not None, pixels

    def get(self, prop: int) -> float:
        """Frame width, height or rate as configured; 0.0 for anything else (there is no frame count)."""
        main = self._config.get("main") or {}
        size = main.get("size") or (0, 0)
        if prop == PROP_FRAME_WIDTH:
            return float(size[0])
        if prop == PROP_FRAME_HEIGHT:
            return float(size[1])
        if prop == PROP_FPS:
            limits = (self._config.get("controls") or {}).get("FrameDurationLimits")
            return 1e6 / float(limits[0]) if limits and limits[0] else 0.0
        return 0.0

    def release(self) -> None:
        """Stop and close the camera (Picamera2's close()); safe to call more than once."""
        camera, self._camera = self._camera, None
        if camera is not None:
            close_quietly(camera)


def close_quietly(camera) -> None:
    """Close a Picamera2 camera; a failure to close is logged, never raised over the error that led here."""
    try:
        camera.close()
    except Exception as error:  # noqa: BLE001 - closing is cleanup
        LOGGER.warning("closing the Raspberry Pi camera failed: %s", error)


def open_picamera(camera_num: int) -> PicameraDevice:
    """Open Raspberry Pi camera `camera_num` through Picamera2 (see PicameraDevice)."""
    return PicameraDevice(camera_num)


def on_raspberry_pi() -> bool:
    """True on a Raspberry Pi (the device tree's model says so)."""
    try:
        return "raspberry pi" in Path("/proc/device-tree/model").read_text(errors="replace").lower()
    except OSError:
        return False


def picamera_hint() -> str:
    """For a V4L2 camera that failed: `; ... use --camera picam` when this looks like a Pi with a CSI camera."""
    try:
        import picamera2
    except Exception:  # noqa: BLE001 - missing or broken: only a hint either way
        return "; on a Raspberry Pi, read a Camera Module with --camera picam" if on_raspberry_pi() else ""
    try:
        cameras = list_picameras(picamera2)
    except Exception as error:  # noqa: BLE001 - only a hint: a broken libcamera must not hide the real error
        LOGGER.debug("listing libcamera cameras failed: %s", error)
        return ""
    if not cameras:
        return ""
    return f"; libcamera has a Raspberry Pi camera ({describe_cameras(cameras)}): use --camera picam"
