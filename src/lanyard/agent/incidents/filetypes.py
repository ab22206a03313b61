"""What a file attached to an incident is, told from its content, never from its name.

Screenshots, PDFs, recordings and text are what a Code of Conduct team keeps as evidence;
anything else (executables, archives, office documents with macros) is refused. Text
must be UTF-8 throughout, without control characters other than tab and line ends.
"""

from __future__ import annotations

import codecs

from lanyard.agent.errors import InvalidRequest

SNIFF_BYTES = 64  # the type is decided on this many leading bytes (or the whole text)

# (media type, test on the leading bytes)
_MAGIC: list[tuple[str, bytes, int]] = [  # (type, magic, offset)
    ("image/png", b"\x89PNG\r\n\x1a\n", 0),
    ("image/jpeg", b"\xff\xd8\xff", 0),
    ("image/gif", b"GIF87a", 0),
    ("image/gif", b"GIF89a", 0),
    ("application/pdf", b"%PDF-", 0),
    ("video/webm", b"\x1a\x45\xdf\xa3", 0),  # Matroska/WebM (EBML)
    ("audio/ogg", b"OggS", 0),
    ("audio/flac", b"fLaC", 0),
    ("audio/mpeg", b"ID3", 0),
]
_RIFF = {b"WEBP": "image/webp", b"WAVE": "audio/wav", b"AVI ": "video/x-msvideo"}
_FTYP_AUDIO = {b"M4A ", b"M4B "}
_MPEG_FRAME = {b"\xff\xfb", b"\xff\xf3", b"\xff\xf2"}


def sniff(head: bytes) -> str | None:
    """The media type of a binary format recognised from its leading bytes, or None."""
    for kind, magic, offset in _MAGIC:
        if head[offset : offset + len(magic)] == magic:
            return kind
    if head[:4] == b"RIFF" and head[8:12] in _RIFF:
        return _RIFF[head[8:12]]
    if head[4:8] == b"ftyp":
        brand = head[8:12]
        if brand in _FTYP_AUDIO:
            return "audio/mp4"
        return "video/quicktime" if brand == b"qt  " else "video/mp4"
    if head[:2] in _MPEG_FRAME:
        return "audio/mpeg"
    return None


_ALLOWED_CONTROLS = {"\t", "\n", "\r"}


class TextCheck:
    """Checks, piece by piece, that a whole file is UTF-8 text."""

    def __init__(self) -> None:
        self._decoder = codecs.getincrementaldecoder("utf-8")("strict")
        self.ok = True

    def feed(self, piece: bytes, final: bool = False) -> None:
        if not self.ok:
            return
        try:
            text = self._decoder.decode(piece, final)
        except UnicodeDecodeError:
            self.ok = False
            return
        if any(c < " " and c not in _ALLOWED_CONTROLS for c in text) or "\x7f" in text:
            self.ok = False


class Typer:
    """Decides a file's type while it streams by: a known binary format from its first
    bytes, else UTF-8 text checked to the end. `result` raises InvalidRequest for
    anything else, with one sentence."""

    def __init__(self) -> None:
        self._head = bytearray()
        self._kind: str | None = None
        self._text = TextCheck()
        self._decided = False

    def feed(self, piece: bytes) -> None:
        if not self._decided:
            self._head += piece[: SNIFF_BYTES - len(self._head)]
            if len(self._head) >= SNIFF_BYTES:
                self._decide()
        if self._kind is None:
            self._text.feed(piece)

    def _decide(self) -> None:
        self._decided = True
        self._kind = sniff(bytes(self._head))

    def result(self) -> str:
        if not self._decided:
            self._decide()
        if self._kind is not None:
            return self._kind
        self._text.feed(b"", final=True)
        if self._text.ok and self._head:
            return "text/plain"
        raise InvalidRequest(
            "only images (PNG, JPEG, GIF, WebP), PDF, audio, video and UTF-8 text can be "
            "attached; this file is none of those"
        )
