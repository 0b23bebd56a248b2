"""Checking a report file by its content (not its name): the accepted types, their
detection, a PDF's structure and active content, and text decoding for previews."""

from __future__ import annotations

import csv
import io
import os
from typing import Any

from ..errors import ValidationError

# detected type -> (label, extensions that may carry it)
ALLOWED = {
    "application/pdf": ("PDF", (".pdf",)),
    "image/png": ("PNG image", (".png",)),
    "image/jpeg": ("JPEG image", (".jpg", ".jpeg")),
    "text/plain": ("plain text", (".txt", ".text", ".log", ".md", "")),
    "text/csv": ("CSV table", (".csv",)),
}
PREVIEWABLE = ("text/plain", "text/csv", "application/pdf")  # a PDF: a summary


def _looks_like_csv(text: str) -> bool:
    lines = [line for line in text.splitlines() if line.strip()][:50]
    if len(lines) < 2:
        return False
    try:
        rows = list(csv.reader(io.StringIO("\n".join(lines))))
    except csv.Error:
        return False
    widths = {len(row) for row in rows}
    return len(widths) == 1 and widths.pop() >= 2


_CONTROL = set(range(0, 32)) - {9, 10, 12, 13}


def decode_text(data: bytes) -> str | None:
    """Text of a plain-text file: UTF-8 (with or without BOM), UTF-16 with a BOM, or the
    Windows-1252/Latin-1 that older lab systems export; None when it is not text."""
    if data.startswith((b"\xff\xfe", b"\xfe\xff")):
        try:
            text = data.decode("utf-16")
        except UnicodeDecodeError:
            return None
    else:
        if b"\x00" in data:
            return None
        try:
            text = data.decode("utf-8-sig")
        except UnicodeDecodeError:
            try:
                text = data.decode("cp1252")
            except UnicodeDecodeError:
                return None
    if any(ord(ch) in _CONTROL for ch in text[:65536]):
        return None
    return text


def detect_type(data: bytes, filename: str) -> str | None:
    """The content type by magic bytes (filetype) or, for text, by decoding; None if not allowed."""
    import filetype

    kind = filetype.guess(data[:8192])
    if kind is not None:
        return kind.mime if kind.mime in ALLOWED else None
    text = decode_text(data)
    if text is None:
        return None
    if filename.lower().endswith(".csv") or _looks_like_csv(text):
        return "text/csv" if _looks_like_csv(text) else "text/plain"
    return "text/plain"


def check_pdf(data: bytes) -> None:
    """A file that starts like a PDF must be one: it parses (strictly, with pypdf), every
    page's content resolves, and nothing follows its last end-of-file marker (a PDF with a
    web page or an archive appended to it is refused)."""
    import logging

    import pypdf
    from pypdf.errors import PyPdfError

    refused = ValidationError({"file": "The file starts like a PDF but is not a well-formed "
                                       "PDF document, or has other data appended to it. "
                                       "Export or scan it again as a PDF."})
    if not data.rstrip().endswith(b"%%EOF"):
        raise refused
    logging.getLogger("pypdf").setLevel(logging.CRITICAL)  # its warnings would hit the screen
    try:
        reader = pypdf.PdfReader(io.BytesIO(data), strict=True)
        if reader.is_encrypted:
            raise ValidationError({"file": "The PDF is password-protected. Save it without "
                                           "a password and upload it again."})
        if len(reader.pages) == 0:
            raise refused
        for page in reader.pages:
            page.get_contents()
        active = _active_content(reader)
        if active:
            raise ValidationError({"file": f"The PDF contains {active}, which a lab result "
                                           "or report does not need. Print it to a new PDF "
                                           "(or scan it) and upload that."})
    except ValidationError:
        raise
    except (PyPdfError, ValueError, KeyError, TypeError, AttributeError, IndexError,
            RecursionError, OSError, AssertionError, ZeroDivisionError):
        # pypdf reports a malformed file with its own errors and, deep inside a broken
        # object graph, with plain Python ones
        raise refused from None


def pdf_summary(data: bytes) -> str:
    """What the app can show of a PDF: its page count, title and the text of its first
    page (the layout, images and later pages need a PDF viewer: save a copy)."""
    import logging

    import pypdf

    logging.getLogger("pypdf").setLevel(logging.CRITICAL)
    try:
        reader = pypdf.PdfReader(io.BytesIO(data))
        pages = len(reader.pages)
        title = (reader.metadata.title if reader.metadata is not None else None) or ""
        first = (reader.pages[0].extract_text() or "").strip() if pages else ""
    except Exception:  # noqa: BLE001 - a damaged file is said as such, never a traceback
        return ("This PDF cannot be read here (it may be damaged). Save a copy to open it "
                "in a PDF viewer.")
    plural = "page" if pages == 1 else "pages"
    lines = [f"PDF document · {pages} {plural}"
             + (f" · title: {' '.join(str(title).split())}" if str(title).strip() else
                " · no title")]
    if first:
        lines += ["", "Text of page 1 (the layout, images"
                  + (", the other pages" if pages > 1 else "")
                  + " and the rest need a PDF viewer: save a copy with Ctrl+O):", "", first]
    else:
        lines += ["", "Page 1 has no text to show (it is probably a scanned image). Save a "
                      "copy (Ctrl+O) to see it in a PDF viewer."]
    return "\n".join(lines)


def _active_content(reader: Any) -> str | None:
    """What in a PDF could act or carry other files: scripts, launch actions, forms that
    run scripts, attached files. None for a plain document."""
    if len(reader.attachments):
        return "attached files"
    root = reader.trailer["/Root"]
    names = root.get("/Names")
    names = names.get_object() if names is not None else {}
    if "/JavaScript" in names:
        return "scripts"
    if "/EmbeddedFiles" in names:
        return "attached files"
    acro = root.get("/AcroForm")
    if acro is not None and "/XFA" in acro.get_object():
        return "an XFA form"
    actions = [root.get("/OpenAction"), root.get("/AA")]
    for page in reader.pages:
        actions.append(page.get("/AA"))
        for annot in page.get("/Annots") or ():
            annot = annot.get_object()
            actions += [annot.get("/A"), annot.get("/AA")]
            if annot.get("/Subtype") == "/FileAttachment":
                return "attached files"
    for action in actions:
        kind = _action_kind(action)
        if kind:
            return kind
    return None


def _action_kind(action: Any, depth: int = 0) -> str | None:
    """'scripts' or 'commands' when an action (or a chain of them) runs one."""
    if action is None or depth > 8:
        return None
    action = action.get_object()
    if not hasattr(action, "get"):
        return None
    if action.get("/S") in ("/JavaScript", "/Rendition") or "/JS" in action:
        return "scripts"
    if action.get("/S") in ("/Launch", "/ImportData", "/SubmitForm"):
        return "commands that open programs or send data"
    if "/S" not in action:  # an additional-actions dictionary: each trigger's action
        for value in action.values():
            kind = _action_kind(value, depth + 1)
            if kind:
                return kind
    return _action_kind(action.get("/Next"), depth + 1)


def check_file(filename: str, data: bytes, max_bytes: int) -> str:
    """Validate a file's size and content type against its name; return the detected type."""
    if not data:
        raise ValidationError({"file": "The file is empty."})
    if len(data) > max_bytes:
        raise ValidationError({"file": f"The file is {len(data) / 1048576:.1f} MB; the limit is "
                                       f"{max_bytes / 1048576:.0f} MB."})
    mime = detect_type(data, filename)
    if mime is None:
        allowed = ", ".join(label for label, _ in ALLOWED.values())
        raise ValidationError({"file": f"This kind of file is not accepted. Allowed: {allowed}."})
    ext = os.path.splitext(filename)[1].lower()
    label, extensions = ALLOWED[mime]
    if mime == "application/pdf":
        check_pdf(data)
    if mime == "image/png" and not data.endswith(b"IEND\xaeB`\x82"):
        # a PNG ends with its IEND chunk; anything after it is another file riding along
        raise ValidationError({"file": "The PNG image has other data appended to it. Save "
                                       "the image again and upload that."})
    if ext not in extensions:
        if mime == "text/plain" and ext == ".csv":
            raise ValidationError({"file": "The file is named .csv but is not a table of "
                                           "comma-separated values."})
        raise ValidationError({"file": f"The file is named {ext or 'without an extension'} "
                                       f"but its content is {label}. Rename it or choose the "
                                       "right file."})
    return mime
