"""Mojibake repair at normalisation: text that was UTF-8 but got decoded as windows-1252 or
Latin-1 somewhere upstream ("Americaâ€™s" for "America’s") is put back with ftfy.

ftfy's ``fix_encoding`` is the only fix applied (it undoes wrong decodings and nothing else:
no quote straightening, no width or ligature changes). It costs tens of microseconds, so it
runs only when the text is not ASCII and holds a pair of characters that mojibake of UTF-8
produces: a UTF-8 lead byte read as windows-1252/Latin-1 (Â-Ï, Ð-ß, à-ï...) followed by a
continuation byte read the same way (U+0080-U+00BF or the windows-1252 letters of 0x80-0x9F).
"""

from __future__ import annotations

import re

_CP1252_HIGH = "€‚ƒ„…†‡ˆ‰Š‹ŒŽ‘’“”•–—˜™š›œžŸ"
MOJIBAKE_HINT = re.compile(f"[\u00c2-\u00f4][\u0080-\u00bf{_CP1252_HIGH}]")


def repair_mojibake(text: str | None) -> tuple[str | None, bool]:
    """``(text, repaired)``: the text with wrong decodings undone, and whether it changed."""
    if not text or text.isascii() or not MOJIBAKE_HINT.search(text):
        return text, False
    import ftfy

    fixed = ftfy.fix_encoding(text)
    return fixed, fixed != text
