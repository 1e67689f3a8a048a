"""A data file's bytes as text: UTF-8, a byte-order mark's encoding, or Chinese saved as GBK.

People bring files from every editor: UTF-8 with or without a BOM, UTF-16 from Windows Notepad
("Unicode"), and Chinese text saved as GBK / GB18030 by Excel or Notepad in a Chinese locale. The
last is read when the bytes decode cleanly as GB18030 and mostly give Chinese characters (latin
text in another legacy code page does not pass, so it is never silently garbled). Anything else
is refused with what was found, so the user knows what to fix: binary data (a NUL byte where
text was expected, as in an image or a zip renamed ``.json``), the first byte that is not UTF-8
and its line, or a NUL byte in otherwise good text with its line and column.
"""

from __future__ import annotations

import codecs

from studio.engine.errors import DataError

# Longest marks first: the UTF-32 LE mark begins with the UTF-16 LE one.
BOMS = ((codecs.BOM_UTF32_LE, "utf-32"), (codecs.BOM_UTF32_BE, "utf-32"),
        (codecs.BOM_UTF8, "utf-8-sig"), (codecs.BOM_UTF16_LE, "utf-16"),
        (codecs.BOM_UTF16_BE, "utf-16"))
CHINESE_SHARE = 0.6  # of the non-ASCII characters, for bytes to count as GBK-encoded Chinese


def decode(data: bytes, shown: str) -> str:
    """The text of a file's bytes; DataError naming the encoding problem otherwise."""
    text = _with_bom(data, shown)
    if text is None:
        try:
            text = data.decode("utf-8")
        except UnicodeDecodeError as exc:
            text = _not_utf8(data, shown, exc.start)
    nul = text.find("\0")
    if nul >= 0:
        line = text.count("\n", 0, nul) + 1
        raise DataError("data_nul", path=shown, line=line, column=nul - text.rfind("\n", 0, nul))
    return text


def _with_bom(data: bytes, shown: str) -> str | None:
    for bom, codec in BOMS:
        if data.startswith(bom):
            try:
                return data.decode(codec)
            except UnicodeDecodeError as exc:
                raise DataError("data_bom_encoding", path=shown, encoding=codec.upper(),
                                offset=exc.start) from None
    return None


def _not_utf8(data: bytes, shown: str, offset: int) -> str:
    """GBK-encoded Chinese as text; otherwise a refusal saying binary or which byte is wrong."""
    nul = data.find(b"\0")
    if nul >= 0:
        raise DataError("data_binary", path=shown, offset=nul)
    chinese = _as_chinese(data)
    if chinese is not None:
        return chinese
    raise DataError("data_not_utf8", path=shown, byte=f"0x{data[offset]:02X}", offset=offset,
                    line=data.count(b"\n", 0, offset) + 1)


def _as_chinese(data: bytes) -> str | None:
    try:
        text = data.decode("gb18030")
    except UnicodeDecodeError:
        return None
    wide = [c for c in text if ord(c) > 127]
    chinese = sum(_is_chinese(c) for c in wide)
    return text if wide and chinese >= CHINESE_SHARE * len(wide) else None


def _is_chinese(c: str) -> bool:
    # CJK ideographs (and extension A), CJK punctuation, full-width forms.
    return "\u4e00" <= c <= "\u9fff" or "\u3400" <= c <= "\u4dbf" or "\u3000" <= c <= "\u303f" \
        or "\uff00" <= c <= "\uffef"
