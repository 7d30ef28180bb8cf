"""Hostile text made visible: log content and registry fields can carry control characters and
Unicode bidirectional controls (the "Trojan Source" trick: U+202E turns `exe.txt` into what reads
as `txt.exe`). Wherever such text is shown to a person (the console, the PDF and DOCX dossiers) each
of those characters is replaced by a visible stand-in, so nothing reorders or hides what is read.

    show_controls("invoice\u202efdp.exe")  # 'invoice<U+202E>fdp.exe'
"""

from __future__ import annotations

import re

# C0/C1 controls except tab and newline, DEL, and the bidirectional marks, embeddings, overrides and
# isolates: U+061C (Arabic letter mark), U+200E/F (LRM, RLM), U+202A-E (LRE, RLE, PDF, LRO, RLO),
# U+2066-9 (LRI, RLI, FSI, PDI).
INVISIBLE = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069]")


def _visible(match: re.Match[str]) -> str:
    code = ord(match.group(0))
    if code < 0x20:
        return chr(0x2400 + code)  # ␀ ␁ ... ␟ (Unicode's control pictures)
    if code == 0x7F:
        return "\u2421"  # ␡
    return f"<U+{code:04X}>"


def show_controls(text: str) -> str:
    """`text` with every control and bidirectional character replaced by a visible stand-in."""
    return INVISIBLE.sub(_visible, text)
