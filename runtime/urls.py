"""The one list of URL schemes catdog reads streams from, and the one way a URL is shown.

`catdog.runtime.sources` (what the command line's SOURCES are) and
`catdog.runtime.live_capture` (how OpenCV opens them) both ask `is_stream_url`, so a source
is a URL in both places or in neither. `redact_url` hides credentials everywhere catdog writes
a source: records' `source` field, warnings, error messages, summaries and bench reports.
"""

from __future__ import annotations

import re
from urllib.parse import urlsplit, urlunsplit

# Network protocols FFmpeg (through OpenCV) reads video from. A Windows drive letter ("C:")
# is one letter, so no scheme listed here can be mistaken for a path.
STREAM_SCHEMES = frozenset({"http", "https", "rtsp", "rtsps", "rtmp", "rtmps", "rtp", "srt", "udp", "tcp", "mms", "mmsh"})

# Anything shaped like `scheme://`, used to find URLs inside free text such as error messages.
URL_PATTERN = re.compile(r"\b[a-zA-Z][a-zA-Z0-9+.-]*://[^\s'\"]+")


def url_scheme(text: str) -> str:
    """Return the lower-case scheme of `scheme://...` text, or "" when it has none."""
    head, separator, _ = text.strip().partition("://")
    return head.lower() if separator and re.fullmatch(r"[a-zA-Z][a-zA-Z0-9+.-]*", head) else ""


def is_stream_url(text: str) -> bool:
    """Tell whether a source is a network stream (`udp://1.2.3.4:5000` is) rather than a path."""
    return url_scheme(text) in STREAM_SCHEMES


def redact_url(url: str) -> str:
    """Replace the `user:password@` of a URL with `***@`; text that is not a URL comes back unchanged.

    `rtsp://admin:secret@cam.local/live` -> `rtsp://***@cam.local/live`.
    """
    if "://" not in url or "@" not in url:
        return url
    try:
        parts = urlsplit(url)
    except ValueError:  # e.g. an unbalanced "[" in the host part
        parts = None
    if parts is not None and "@" in parts.netloc:
        return urlunsplit(parts._replace(netloc="***@" + parts.netloc.rsplit("@", 1)[1]))
    # Not parsable as a URL: still drop anything between "://" and the last "@" before a "/".
    return re.sub(r"(://)[^/\s]*@", r"\1***@", url)


def redact_text(text: str) -> str:
    """Redact the userinfo of every URL inside free text (an error message, a warning, a report line)."""
    if "@" not in text or "://" not in text:
        return text
    return URL_PATTERN.sub(lambda match: redact_url(match.group(0)), text)
