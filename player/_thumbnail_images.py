"""Thumbnail images: what an image is (from its header), and its pixels (PyAV).

``probe_image`` reads the type and size of a JPEG or PNG from its first bytes, without
decoding: ``Player.thumbnail_at`` uses it to place the crop and to refuse images too large
to decode. ``decode_image`` decodes an image with PyAV (CPU work: call it through
``asyncio.to_thread`` in async code); ``encode_png`` writes pixels as PNG, also with PyAV, so
no imaging library is needed.
"""

from __future__ import annotations

import io
import struct
from dataclasses import dataclass

import av
import numpy as np

from player.errors import ThumbnailImageError

__all__: list[str] = []

_PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
_JPEG_SOF = frozenset(range(0xC0, 0xD0)) - {0xC4, 0xC8, 0xCC}
"""Start-of-frame markers (baseline, progressive, lossless...); C4, C8 and CC are not."""
_JPEG_NO_LENGTH = frozenset({0x01, *range(0xD0, 0xDA)})
"""Markers without a length field: TEM, RST0-7, SOI, EOI."""


@dataclass(frozen=True, slots=True)
class ImageInfo:
    """An image's type and size, read from its header.

    Attributes:
        mime_type: ``image/jpeg`` or ``image/png``.
        width: Pixels across.
        height: Pixels down.
    """

    mime_type: str
    width: int
    height: int


def probe_image(data: bytes) -> ImageInfo | None:
    r"""The type and size of a JPEG or PNG image, or ``None`` if ``data`` is neither.

    >>> header = b"\x89PNG\r\n\x1a\n" + bytes(4) + b"IHDR"
    >>> probe_image(header + bytes([0, 0, 1, 64, 0, 0, 0, 180]))
    ImageInfo(mime_type='image/png', width=320, height=180)
    >>> probe_image(b"GIF89a") is None
    True
    """
    if data.startswith(_PNG_SIGNATURE) and len(data) >= 24 and data[12:16] == b"IHDR":
        width, height = struct.unpack(">II", data[16:24])
        return ImageInfo("image/png", width, height) if width and height else None
    if data.startswith(b"\xff\xd8"):
        return _jpeg_size(data)
    return None


def _jpeg_size(data: bytes) -> ImageInfo | None:
    """Walk the JPEG markers to the first start-of-frame (bounded by the data's length)."""
    offset = 2
    while offset + 4 <= len(data):
        if data[offset] != 0xFF:
            return None
        marker = data[offset + 1]
        if marker == 0xFF:  # fill byte
            offset += 1
            continue
        if marker in _JPEG_NO_LENGTH:
            offset += 2
            continue
        (length,) = struct.unpack(">H", data[offset + 2 : offset + 4])
        if length < 2:
            return None
        if marker in _JPEG_SOF:
            if offset + 9 > len(data):
                return None
            height, width = struct.unpack(">HH", data[offset + 5 : offset + 9])
            return ImageInfo("image/jpeg", width, height) if width and height else None
        offset += 2 + length
    return None


def decode_image(data: bytes, *, url: str, position_s: float) -> np.ndarray:
    """Decode a JPEG or PNG image into RGB pixels.

    Args:
        data: The image's bytes.
        url: Its URL, named in errors.
        position_s: The time the thumbnail was asked for, named in errors.

    Returns:
        A ``(height, width, 3)`` array of ``uint8`` (RGB).

    Raises:
        ThumbnailImageError: PyAV cannot decode it.
    """
    try:
        with av.open(io.BytesIO(data), mode="r", format="image2pipe") as container:
            stream = container.streams.video[0]
            for packet in container.demux(stream):
                for frame in packet.decode():
                    if isinstance(frame, av.VideoFrame):
                        pixels: np.ndarray = frame.to_ndarray(format="rgb24")
                        return pixels
    except (av.FFmpegError, ValueError, IndexError, OSError) as exc:
        raise ThumbnailImageError(
            f"{url}: image not decodable ({type(exc).__name__}: {str(exc)[:120]})",
            position_s=position_s,
            url=url,
        ) from exc
    raise ThumbnailImageError(f"{url}: image holds no picture", position_s=position_s, url=url)


def crop_pixels(pixels: np.ndarray, crop: tuple[int, int, int, int]) -> np.ndarray:
    """Cut ``crop`` = ``(x, y, width, height)`` out of decoded pixels (a contiguous copy)."""
    x, y, width, height = crop
    return np.ascontiguousarray(pixels[y : y + height, x : x + width])


def encode_png(pixels: np.ndarray) -> bytes:
    """Encode RGB pixels (``(height, width, 3)`` ``uint8``) as a PNG file, with PyAV.

    Raises:
        ValueError: ``pixels`` is not an RGB image.
    """
    if pixels.ndim != 3 or pixels.shape[2] != 3 or pixels.dtype != np.uint8:
        raise ValueError(f"expected (height, width, 3) uint8 pixels, got {pixels.shape}")
    frame = av.VideoFrame.from_ndarray(np.ascontiguousarray(pixels), format="rgb24")
    codec = av.CodecContext.create("png", "w")
    codec.width, codec.height = frame.width, frame.height
    codec.pix_fmt = "rgb24"
    packets = [*codec.encode(frame), *codec.encode(None)]
    return b"".join(bytes(packet) for packet in packets)
