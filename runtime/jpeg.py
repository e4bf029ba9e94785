"""Fast JPEG decoding: libjpeg-turbo through simplejpeg, with DCT scaling, for baseline and progressive files.

A folder run is decode-bound: a 500x375 photo costs Pillow about 0.41 ms of CPU to decode at
1/4 scale and simplejpeg about 0.30 ms, on the same libjpeg-turbo; with the resize that both
share, 0.52 against 0.43 ms (benchmarks/decode_fidelity.py). simplejpeg decodes in one C call
with the GIL released, so the folder pipeline's decode threads run in parallel.

`read_jpeg` is the fast path of `catdog.runtime.preprocess.load_image`: it takes a file's
path or bytes and returns an upright RGB image at the same reduced scale Pillow's `draft` would pick,
or None when anything is unusual, so Pillow decodes the file exactly as before. The fast
path takes only 8-bit baseline, extended-sequential and progressive JPEGs with 1 (grey) or 3
(YCbCr/RGB) components whose EXIF orientation it can read; everything else (CMYK, 12-bit,
arithmetic-coded or lossless JPEGs, orientation only in XMP, images past Pillow's
`MAX_IMAGE_PIXELS`, files simplejpeg refuses, or a missing simplejpeg) goes to Pillow.
The pixels are identical to Pillow's draft decode on all 200 fullres_sample photos
(benchmarks/results/decode_fidelity.md), so training and the runtime keep one decoder.
"""

from __future__ import annotations

import os
from typing import Optional, Union

from PIL import Image

try:  # an install dependency; without it every JPEG goes through Pillow, as before
    import simplejpeg
except ImportError:  # pragma: no cover - exercised by tests that hide the module
    simplejpeg = None

JPEG_SUFFIXES = frozenset({".jpg", ".jpeg", ".jpe", ".jfif"})
# Start-of-frame markers the fast path takes: baseline, extended sequential and progressive
# Huffman-coded JPEG (ITU T.81 table B.1). Lossless, hierarchical and arithmetic-coded go to Pillow.
FAST_FRAME_MARKERS = frozenset({0xC0, 0xC1, 0xC2})
OTHER_FRAME_MARKERS = frozenset({0xC3, 0xC5, 0xC6, 0xC7, 0xC9, 0xCA, 0xCB, 0xCD, 0xCE, 0xCF})
START_OF_SCAN, END_OF_IMAGE = 0xDA, 0xD9
STANDALONE_MARKERS = frozenset({0x01, *range(0xD0, 0xD8)})  # TEM and RST0-7 carry no length
EXIF_HEADER = b"Exif\x00\x00"
XMP_HEADER = b"http://ns.adobe.com/xap/1.0/"
ORIENTATION_TAG = 0x0112  # EXIF 2.3, IFD0 tag 274
# Pillow's draft picks the largest of these DCT scale denominators that keeps the image at least
# the requested size (PIL.JpegImagePlugin.JpegImageFile.draft); the fast path picks the same.
DRAFT_SCALES = (8, 4, 2, 1)
# How each EXIF orientation is undone, exactly as `PIL.ImageOps.exif_transpose` does it.
ORIENTATION_TRANSPOSES = {
    2: Image.Transpose.FLIP_LEFT_RIGHT, 3: Image.Transpose.ROTATE_180, 4: Image.Transpose.FLIP_TOP_BOTTOM,
    5: Image.Transpose.TRANSPOSE, 6: Image.Transpose.ROTATE_270, 7: Image.Transpose.TRANSVERSE,
    8: Image.Transpose.ROTATE_90,
}


class JpegHeader:
    """What the fast path needs from a JPEG's markers: frame size, components, precision, orientation."""

    __slots__ = ("width", "height", "components", "precision", "frame_marker", "orientation")

    def __init__(self, *, width: int, height: int, components: int, precision: int, frame_marker: int,
                 orientation: Optional[int]):
        self.width, self.height = width, height
        self.components, self.precision = components, precision
        self.frame_marker = frame_marker
        self.orientation = orientation  # EXIF orientation 1-8, or None when it cannot be read


def read_exif_orientation(tiff: bytes) -> Optional[int]:
    """Return IFD0's Orientation (1 when absent) from an EXIF TIFF block, or None if it is malformed.

    Reads only the TIFF header and IFD0's entries (TIFF 6.0 section 2): about 3 us, against
    about 30 us for opening the file with Pillow to ask `getexif()`.
    """
    order = tiff[:2]
    if order == b"II":
        endian = "little"
    elif order == b"MM":
        endian = "big"
    else:
        return None
    offset = int.from_bytes(tiff[4:8], endian)
    if offset + 2 > len(tiff):
        return None
    count = int.from_bytes(tiff[offset:offset + 2], endian)
    for entry in range(offset + 2, offset + 2 + 12 * count, 12):
        if entry + 12 > len(tiff):
            return None
        if int.from_bytes(tiff[entry:entry + 2], endian) != ORIENTATION_TAG:
            continue
        kind = int.from_bytes(tiff[entry + 2:entry + 4], endian)
        values = int.from_bytes(tiff[entry + 4:entry + 8], endian)
        if values != 1 or kind not in (3, 4):  # one SHORT or LONG; anything else: let Pillow decide
            return None
        size = 2 if kind == 3 else 4
        return int.from_bytes(tiff[entry + 8:entry + 8 + size], endian)
    return 1


def read_jpeg_header(data: bytes) -> Optional[JpegHeader]:
    """Walk a JPEG's marker segments up to the first scan; None if it is not a JPEG or is malformed."""
    if data[:2] != b"\xff\xd8":
        return None
    position, size = 2, len(data)
    frame: Optional[tuple[int, int, int, int, int]] = None
    exif: Optional[bytes] = None
    xmp = False
    while position + 4 <= size:
        if data[position] != 0xFF:
            return None
        marker = data[position + 1]
        if marker == 0xFF:  # fill byte
            position += 1
            continue
        if marker in STANDALONE_MARKERS:
            position += 2
            continue
        if marker in (START_OF_SCAN, END_OF_IMAGE):
            break
        length = int.from_bytes(data[position + 2:position + 4], "big")
        if length < 2:
            return None
        start, position = position + 4, position + 2 + length
        if marker == 0xE1:
            segment = data[start:position]
            if segment.startswith(EXIF_HEADER):
                exif = exif if exif is not None else segment[len(EXIF_HEADER):]  # Pillow keeps the first
            elif segment.startswith(XMP_HEADER):
                xmp = True
        elif marker in FAST_FRAME_MARKERS or marker in OTHER_FRAME_MARKERS:
            if frame is not None or length < 8:
                return None
            segment = data[start:start + 6]
            frame = (marker, segment[0], int.from_bytes(segment[1:3], "big"),
                     int.from_bytes(segment[3:5], "big"), segment[5])
    if frame is None:
        return None
    marker, precision, height, width, components = frame
    orientation = 1 if exif is None else read_exif_orientation(exif)
    if exif is None and xmp:
        orientation = None  # Pillow also reads tiff:Orientation from XMP; leave that file to Pillow
    return JpegHeader(width=width, height=height, components=components, precision=precision,
                      frame_marker=marker, orientation=orientation)


def draft_scale(width: int, height: int, *, target: tuple[int, int]) -> int:
    """The DCT scale denominator (8, 4, 2 or 1) Pillow's draft picks for a (height, width) target."""
    target_height, target_width = target
    ratio = min(width // max(1, target_width), height // max(1, target_height))
    return next((scale for scale in DRAFT_SCALES if ratio >= scale), 1)


def is_fast_path_candidate(header: Optional[JpegHeader]) -> bool:
    """True for 8-bit baseline/progressive grey or colour JPEGs with a readable orientation, in Pillow's pixel limit."""
    if header is None or header.orientation is None:
        return False
    if header.frame_marker not in FAST_FRAME_MARKERS or header.precision != 8 or header.components not in (1, 3):
        return False
    limit = Image.MAX_IMAGE_PIXELS  # read per call: a caller may lower or lift Pillow's bomb limit
    return not (limit and header.width * header.height > limit)


def decode_jpeg(data: bytes, *, min_size: Optional[tuple[int, int]] = None,
                max_pixels: Optional[int] = None) -> Optional[Image.Image]:
    """Decode JPEG bytes into an upright RGB Pillow image, or return None to leave the file to Pillow.

    min_size: (height, width) the upright image must keep; the decode is shrunk by the DCT scale
    Pillow's `draft` would choose for it (1/2, 1/4 or 1/8), so the caller's resize still only shrinks.
    None decodes at full size. An image that would decode to more than `max_pixels` pixels is
    left to Pillow too, which refuses it with catdog's own error. Never raises for bad data: a file simplejpeg refuses (truncated,
    corrupt) returns None, and Pillow then reports it exactly as it always has.
    """
    if simplejpeg is None:
        return None
    header = read_jpeg_header(data)
    if not is_fast_path_candidate(header):
        return None
    options = {}
    scale = 1
    if min_size is not None:
        # Orientations 5-8 swap the axes, so the stored image's width becomes the upright height.
        stored_target = min_size[::-1] if header.orientation >= 5 else min_size
        scale = draft_scale(header.width, header.height, target=stored_target)
        options = {"min_height": -(-header.height // scale), "min_width": -(-header.width // scale)}
    if max_pixels and -(-header.height // scale) * -(-header.width // scale) > max_pixels:
        return None
    try:
        pixels = simplejpeg.decode_jpeg(data, colorspace="RGB", **options)
    except (ValueError, RuntimeError, MemoryError):
        return None
    image = Image.fromarray(pixels)  # decoding to RGBX and mapping it saves nothing: measured
    transpose = ORIENTATION_TRANSPOSES.get(header.orientation)
    return image if transpose is None else image.transpose(transpose)


def read_jpeg(source: Union[str, os.PathLike, bytes, bytearray], *,
              min_size: Optional[tuple[int, int]] = None, max_pixels: Optional[int] = None) -> Optional[Image.Image]:
    """The fast path for a path or bytes: an upright RGB image, or None for anything Pillow should open.

    Paths are read only when their suffix says JPEG (.jpg, .jpeg, .jpe, .jfif), so other formats
    are never read twice; the bytes are then sniffed, so a PNG named .jpg still goes to Pillow.
    A file that cannot be read returns None too, and Pillow raises its usual error.
    """
    if simplejpeg is None:
        return None
    if isinstance(source, (bytes, bytearray)):
        return decode_jpeg(bytes(source), min_size=min_size, max_pixels=max_pixels)
    if os.path.splitext(os.fspath(source))[1].lower() not in JPEG_SUFFIXES:
        return None
    try:
        with open(source, "rb") as file:
            data = file.read()
    except OSError:
        return None
    return decode_jpeg(data, min_size=min_size, max_pixels=max_pixels)
