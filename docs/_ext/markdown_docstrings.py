"""Sphinx extension: reads our docstrings' Markdown dialect (TFP's) as reStructuredText.

Our docstrings follow TensorFlow Probability's conventions, which its own doc generator
reads as Markdown: Google-style `Args:`/`Returns:` sections (napoleon reads those), inline
code in single backticks, `#### Examples` / `#### References` headings, fenced code
blocks, lists that start right after a line of text, `|x|` for absolute values and
`_title_` for emphasis. This hook rewrites those into reStructuredText before napoleon
runs, so the docstrings stay readable in an editor and build without warnings.
"""

import re

_FENCE = re.compile(r"^(\s*)```\s*(\w*)\s*$")
_HEADING = re.compile(r"^(\s*)#{2,6}\s+(.*\S)\s*$")
_LIST_ITEM = re.compile(r"^(\s*)([-*+]|\d+[.)])\s+\S")
_REFERENCE = re.compile(r"^(\s*)\[\d+\]:?\s+\S")
_INLINE_CODE = re.compile(r"(`+)(.+?)\1")
_EMPHASIS = re.compile(r"(?<![^\s(])_([^_\s][^_]*?)_(?!\w)")
# Characters reST accepts right before an inline markup start and right after its end.
_BEFORE_START = set(" \t-:/'\"<([{")
_AFTER_END = set(" \t-.,:;!?\\/'\")]}>")
_DOUBLE_STAR = re.compile(r"\*\*([^*\s][^*]*?)\*\*")


def _escape_text(text):
    """Escapes reST markup characters in text outside inline code spans."""
    bold = []

    def keep_bold(match):
        bold.append(match.group(1))
        return f"\x00{len(bold) - 1}\x00"

    text = _DOUBLE_STAR.sub(keep_bold, text)
    text = text.replace("\\", "\\\\").replace("*", r"\*").replace("|", r"\|")
    text = _EMPHASIS.sub(r"*\1*", text)
    # A word ending in `_` is a reST reference; a bare trailing underscore is not ours.
    text = re.sub(r"(\w)_(?=\s|$|[.,;:)])", r"\1\\_", text)
    return re.sub("\x00(\\d+)\x00", lambda m: f"**{bold[int(m.group(1))]}**", text)


def _convert_inline(line):
    """Escapes a line's text and turns its backtick spans into literal reST spans."""
    out, last = [], 0
    for match in _INLINE_CODE.finditer(line):
        out.append(_escape_text(line[last : match.start()]))
        code = match.group(2).strip()
        before = line[match.start() - 1] if match.start() else " "
        after = line[match.end()] if match.end() < len(line) else " "
        # "\ " is an escaped, invisible space: it lets a span touch a letter (`x`s).
        prefix = "" if before in _BEFORE_START else "\\ "
        suffix = "" if after in _AFTER_END else "\\ "
        out.append(f"{prefix}``{code}``{suffix}" if code else match.group(0))
        last = match.end()
    out.append(_escape_text(line[last:]))
    return "".join(out)


def _indent_of(line):
    return len(line) - len(line.lstrip())


def _join_references(lines):
    """Joins each `[n] text` entry's indented continuation lines into one line."""
    out = []
    for line in lines:
        if out and _REFERENCE.match(out[-1]) and line.strip():
            if _indent_of(line) > _indent_of(out[-1]) and not _REFERENCE.match(line):
                out[-1] = f"{out[-1]} {line.strip()}"
                continue
        out.append(line)
    return out


def convert(lines):
    """Returns the reST form of a docstring's lines (list of str)."""
    out = []
    in_fence, fence_indent = False, ""
    items = []  # open list items, innermost last: (bullet indent, text column)

    def blank():
        if out and out[-1].strip():
            out.append("")

    for line in _join_references(lines):
        fence = _FENCE.match(line)
        if fence:
            if not in_fence:
                fence_indent = fence.group(1)
                blank()
                out.append(f"{fence_indent}.. code-block:: {fence.group(2) or 'text'}")
                out.append("")
                in_fence = True
            else:
                out.append("")
                in_fence = False
            continue
        if in_fence:
            out.append(f"{fence_indent}   {line[len(fence_indent) :]}" if line.strip() else "")
            continue
        if not line.strip():
            out.append("")
            continue
        heading = _HEADING.match(line)
        if heading:
            items.clear()
            blank()
            out.append(f"{heading.group(1)}.. rubric:: {heading.group(2)}")
            out.append("")
            continue
        indent = _indent_of(line)
        item = _LIST_ITEM.match(line) or _REFERENCE.match(line)
        while items and indent <= items[-1][0] and not (item and indent == items[-1][0]):
            items.pop()
            blank()  # a list ends (or a nested one returns to its parent) at a blank line
        if item:
            if items and indent == items[-1][0]:
                items.pop()
            blank()
            marker = line.strip().split()[0]
            items.append((indent, indent + len(marker) + 1))
        elif items:
            line = " " * items[-1][1] + line.strip()  # continuation: the item's text column
        out.append(_convert_inline(line))
    return out


def _process(app, what, name, obj, options, lines):
    del app, what, name, obj, options
    lines[:] = convert(lines)


def _skip_namedtuple_fields(app, what, name, obj, skip, options):
    del app, what, name, options
    doc = getattr(obj, "__doc__", None) or ""
    if doc.startswith("Alias for field number"):
        return True
    return skip


def setup(app):
    """Registers the hooks (before napoleon, which runs at the default priority)."""
    app.connect("autodoc-process-docstring", _process, priority=100)
    app.connect("autodoc-skip-member", _skip_namedtuple_fields)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
