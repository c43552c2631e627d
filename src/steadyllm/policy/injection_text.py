"""Text layers for the prompt-injection rules: normalization and decoding.

:func:`normalize` folds compatibility forms, accents, look-alike letters and
invisible characters; the rest reads a message the ways an attacker may have
hidden it (leetspeak, spaced-out letters, ROT13, base64 and hex runs, Unicode tag
characters). Pure and precompiled at import; see :mod:`steadyllm.policy.injection`.
"""

from __future__ import annotations

import base64
import binascii
import re
import unicodedata

__all__ = ["normalize"]


# --- normalization -------------------------------------------------------------------

_INVISIBLE = (
    "\u00ad\u034f\u061c\u115f\u1160\u17b4\u17b5\u180e"
    "\u200b\u200c\u200d\u200e\u200f\u202a\u202b\u202c\u202d\u202e"
    "\u2060\u2061\u2062\u2063\u2064\u2066\u2067\u2068\u2069\u206a\u206b\u206c\u206d\u206e\u206f"
    "\u3164\ufeff\uffa0"
)
_TAG_FIRST, _TAG_LAST = 0xE0000, 0xE007F
# Look-alike letters (Cyrillic, Greek, Latin small capitals) and the punctuation phones
# and word processors substitute, each with what it imitates.
_HOMOGLYPH_FROM = (
    "\u0430\u0432\u0435\u0451\u043a\u043c\u043d\u043e\u0440\u0441\u0442\u0443\u0445\u0456"
    "\u0457\u0458\u0455\u0501\u051b\u051d\u04bb\u04cf\u0261\u0578\u057d\u0581\u0585\u0410"
    "\u0412\u0415\u041a\u041c\u041d\u041e\u0420\u0421\u0422\u0423\u0425\u0406\u0408\u0405"
    "\u03b1\u03b2\u03b3\u03b5\u03b7\u03b9\u03ba\u03bd\u03bf\u03c1\u03c4\u03c5\u03c7\u03c9"
    "\u0391\u0392\u0395\u0396\u0397\u0399\u039a\u039c\u039d\u039f\u03a1\u03a4\u03a5\u03a7"
    "\u1d00\u0299\u1d04\u1d05\u1d07\u0262\u029c\u026a\u1d0a\u1d0b\u029f\u1d0d\u0274\u1d0f"
    "\u1d18\u0280\ua731\u1d1b\u1d1c\u1d20\u1d21\u028f\u1d22\u0131\u2018\u2019\u201b\u2032"
    "\u201c\u201d\u201e\u2033\u2013\u2014\u2212\u00a0\u3000"
)
_HOMOGLYPH_TO = (
    "abeekmhopctyxiijsdqwhlgnugoabekmhopctyxijsabyenikvoptuxwabezhikmnoptyxabcdeghijklmno"
    "prstuvwyzi''''\"\"\"\"---  "
)
_HOMOGLYPHS = dict(zip(_HOMOGLYPH_FROM, _HOMOGLYPH_TO, strict=True))
_FOLD: dict[int, str | None] = {ord(k): v for k, v in _HOMOGLYPHS.items()}
_FOLD.update({ord(c): None for c in _INVISIBLE})
_FOLD.update({cp: None for cp in range(_TAG_FIRST, _TAG_LAST + 1)})
_FOLD.update({cp: None for cp in range(0xFE00, 0xFE10)})  # variation selectors
_COMBINING = re.compile(r"[\u0300-\u036f\u1ab0-\u1aff\u1dc0-\u1dff\u20d0-\u20ff\ufe20-\ufe2f]")

_ZERO_WIDTH_SPLIT = re.compile(
    r"[^\W\d_][\u00ad\u034f\u180e\u200b-\u200f\u2060-\u2064\ufeff]+[^\W\d_]"
)
_MIXED_SCRIPT = re.compile(
    r"(?=[^\W\d_]*[a-zA-Z])(?=[^\W\d_]*[\u0370-\u03ff\u0400-\u04ff\u0500-\u052f])[^\W\d_]{2,}"
)
_BIDI = re.compile(r"[\u202a-\u202e\u2066-\u2069]")
_TAGS = re.compile(r"[\U000e0020-\U000e007e]{4,}")


def normalize(text: str) -> str:
    """Lower-case text with compatibility forms, accents, look-alikes and invisibles folded."""
    if text.isascii():
        return text.lower()
    folded = unicodedata.normalize("NFKD", text)
    folded = _COMBINING.sub("", folded)
    return folded.translate(_FOLD).lower()


def _normalize_indexed(text: str) -> tuple[str, list[int]]:
    """:func:`normalize`, with the index in ``text`` of every character of the result."""
    if text.isascii():
        return text.lower(), list(range(len(text)))
    out: list[str] = []
    index: list[int] = []
    for position, char in enumerate(text):
        folded = char.lower() if char.isascii() else normalize(char)
        out.append(folded)
        index.extend([position] * len(folded))
    return "".join(out), index


# --- decoded layers ----------------------------------------------------------------------

_LEET = str.maketrans("01345789@$!|+\u20ac", "oieastbgasilte")
_LEET_HINT = re.compile(r"[a-z][0134578@$|!+\u20ac][a-z]|\b[0134578@$|][a-z]{2,}[0134578@$|]")
_ROT13 = str.maketrans(
    "abcdefghijklmnopqrstuvwxyz", "nopqrstuvwxyzabcdefghijklm"
)  # the layer is already lower case
_SPACED_RUN = re.compile(r"(?<![^\W_])[^\W\d_](?:[ .\-_*/|][^\W\d_]){3,}(?![^\W_])")
_SPACED_SEPARATOR = re.compile(r"[ .\-_*/|]")
_BASE64_RUN = re.compile(r"(?<![A-Za-z0-9+/=_-])[A-Za-z0-9+/_-]{16,}={0,2}(?![A-Za-z0-9+/=_-])")
_HEX_RUN = re.compile(r"(?:[0-9a-fA-F]{2}[ :]?){12,}")
_HEX_HINT = re.compile(r"[0-9a-fA-F]{2}[ :]?[0-9a-fA-F]{2}[ :]?[0-9a-fA-F]{2}")
_NOT_LETTERS = re.compile(r"[^a-z]+")
_MAX_DECODED = 8  # encoded runs decoded per message


def _printable(data: bytes) -> str | None:
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        return None
    if len(text) < 8:
        return None
    good = sum(1 for c in text if c.isprintable() or c in "\n\r\t")
    letters = sum(1 for c in text if c.isalpha())
    if good < 0.95 * len(text) or letters < 0.5 * len(text):
        return None
    return text


def _base64_texts(text: str) -> list[tuple[str, tuple[int, int]]]:
    found = []
    for match in _BASE64_RUN.finditer(text):
        run = match.group(0)
        if run.isalpha() and (run.islower() or run.isupper()):
            continue  # one long plain word, not an encoding
        padded = run.rstrip("=")
        padded += "=" * (-len(padded) % 4)
        try:
            if "-" in padded or "_" in padded:
                data = base64.urlsafe_b64decode(padded)
            else:
                data = base64.b64decode(padded, validate=True)
        except (binascii.Error, ValueError):
            continue
        decoded = _printable(data)
        if decoded is not None:
            found.append((decoded, match.span()))
        if len(found) >= _MAX_DECODED:
            break
    return found


def _hex_texts(text: str) -> list[tuple[str, tuple[int, int]]]:
    found: list[tuple[str, tuple[int, int]]] = []
    if not _HEX_HINT.search(text):
        return found
    for match in _HEX_RUN.finditer(text):
        digits = re.sub(r"[ :]", "", match.group(0))
        if len(digits) % 2:
            digits = digits[:-1]
        decoded = _printable(bytes.fromhex(digits))
        if decoded is not None:
            found.append((decoded, match.span()))
        if len(found) >= _MAX_DECODED:
            break
    return found


def _despace(text: str) -> str:
    return _SPACED_RUN.sub(lambda m: _SPACED_SEPARATOR.sub("", m.group(0)), text)
