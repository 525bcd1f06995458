"""Serving a stored recording: decrypted on the fly, verified chunk by chunk, with single HTTP ranges."""

from __future__ import annotations

import re
from pathlib import Path

from fastapi.responses import StreamingResponse

from app.audio.exceptions import RangeNotSatisfiable
from app.audio.store import AudioStore

_RANGE = re.compile(r"^\s*bytes\s*=\s*(\d*)\s*-\s*(\d*)\s*$", re.IGNORECASE)
_MAX_DIGITS = 18


def parse_range(header: str | None, size: int) -> tuple[int, int] | None:
    """The [start, end) of a single `bytes=` range, None to serve the whole file.

    Malformed and multi-part ranges are ignored (the whole file is served, as RFC 9110 allows); a range
    wholly beyond the end is 416.
    """
    if not header:
        return None
    match = _RANGE.match(header)
    if match is None:
        return None
    first, last = match.groups()
    if (not first and not last) or len(first) > _MAX_DIGITS or len(last) > _MAX_DIGITS:
        return None
    if not first:  # suffix range: the last N bytes
        n = int(last)
        if n == 0:
            raise RangeNotSatisfiable(f"empty suffix range; the recording has {size} bytes")
        return max(size - n, 0), size
    start = int(first)
    end = size if not last else min(int(last) + 1, size)
    if last and int(last) < start:
        return None
    if start >= size:
        raise RangeNotSatisfiable(f"range starts at {start}, the recording has {size} bytes")
    return start, end


def audio_response(
    store: AudioStore, path: Path, *, media_type: str, range_header: str | None
) -> StreamingResponse:
    """The recording (or the requested range of it) as a streamed response; nothing unverified is sent."""
    size = store.plain_size(path)
    span = parse_range(range_header, size)
    start, end = span if span is not None else (0, size)
    part = store.read_range(path, start=start, end=end)
    headers = {
        "Accept-Ranges": "bytes",
        "Content-Length": str(part.end - part.start),
        "Content-Disposition": f'inline; filename="{path.name}"',
    }
    if span is not None:
        headers["Content-Range"] = f"bytes {part.start}-{part.end - 1}/{part.total}"
    return StreamingResponse(
        part.chunks, status_code=206 if span is not None else 200, media_type=media_type, headers=headers
    )
