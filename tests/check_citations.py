#!/usr/bin/env python3
"""Checks the repository's citations of its own documents.

A citation is a path from the repository root to a Markdown file, then
the text of one of its headings in double quotes, without its section
number (docs/ARCHITECTURE.md "Citations"):

    docs/PROTOCOL.md "Flow control"

In a comment the heading may wrap onto the next comment line. For every
tracked text file this fails when

  * a cited file does not exist, or has no such heading;
  * the file refers to documents kept outside the repository (the old
    design and style notes), or uses a section sign outside an RFC
    citation (sections are cited by heading, not by number);
  * the file names a machine path (a home or work directory) or a
    relative path that leaves the repository.

Usage: check_citations.py [ROOT] (default: the parent of this script's
folder). Files come from `git ls-files` when ROOT is a git work tree,
else from a walk of ROOT. Standard library only; needs no build.
"""
import os
import re
import subprocess
import sys

SECTION = "\u00a7"
# Built from pieces so that this file does not trip its own checks.
OUTSIDE_NOTES = ("DES" + "IGN", "STY" + "LE")
NOTE_WORD = re.compile(r"\b(?:%s)\b" % "|".join(OUTSIDE_NOTES))
NOTE_FILE = re.compile(r"\b(?:%s)\.md\b" % "|".join(OUTSIDE_NOTES),
                       re.IGNORECASE)
MACHINE_PATH = re.compile(r"(?<![\w.~-])/(?:work|home|Users|root|mnt)/")
RELATIVE_PATH = re.compile(r"(?<![\w.])((?:\.\./)+)([\w.-]*)")
RFC_BEFORE = re.compile(r"RFC\s*\d+")
# path.md, blanks or one line break plus a comment leader, "heading"
CITATION = re.compile(
    r"(?<![\w/.-])((?:[\w.-]+/)*[\w.-]+\.md)"
    r"(?:[ \t]+|[ \t]*\n[ \t]*(?:\*|//|#|--)?[ \t]*)"
    r"\"([^\"\n]+(?:\n[^\"\n]*){0,2}?)\"")
COMMENT_WRAP = re.compile(r"[ \t]*\n[ \t]*(?:\*|//|#|--)?[ \t]*")
HEADING = re.compile(r"^#{1,6}[ \t]+(.+?)[ \t#]*$")
NUMBER = re.compile(r"^\d+(?:\.\d+)*\.?[ \t]+")
SKIP_DIRS = ("fuzz/corpus/",)


def tracked_files(root):
    try:
        out = subprocess.run(["git", "-C", root, "ls-files", "-z"],
                             check=True, capture_output=True).stdout
        return [p for p in out.decode().split("\0") if p]
    except (OSError, subprocess.CalledProcessError):
        files = []
        for top, dirs, names in os.walk(root):
            dirs[:] = [d for d in dirs
                       if d != ".git" and not d.startswith("build")]
            for n in names:
                files.append(os.path.relpath(os.path.join(top, n), root))
        return sorted(files)


def read_text(path):
    try:
        with open(path, "rb") as f:
            data = f.read()
    except OSError:
        return None
    if b"\0" in data:
        return None
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        return None


def headings(text):
    """The headings of a Markdown text, with and without numbers."""
    found = set()
    fenced = False
    for line in text.splitlines():
        if line.lstrip().startswith("```"):
            fenced = not fenced
            continue
        m = None if fenced else HEADING.match(line)
        if m:
            title = m.group(1).strip()
            found.add(title)
            found.add(NUMBER.sub("", title))
    return found


def line_of(text, pos):
    return text.count("\n", 0, pos) + 1


def check_file(root, rel, text, heading_cache, problems):
    def bad(pos, msg):
        problems.append("%s:%d: %s" % (rel, line_of(text, pos), msg))

    for m in CITATION.finditer(text):
        cited, title = m.group(1), COMMENT_WRAP.sub(" ", m.group(2)).strip()
        if cited not in heading_cache:
            full = os.path.join(root, cited)
            body = read_text(full) if os.path.isfile(full) else None
            heading_cache[cited] = None if body is None else headings(body)
        known = heading_cache[cited]
        if known is None:
            bad(m.start(), "cites %s, which does not exist" % cited)
        elif title not in known:
            bad(m.start(), 'cites %s "%s": no such heading' % (cited, title))
    for m in NOTE_FILE.finditer(text):
        bad(m.start(), "refers to %s, which is not in the repository"
            % m.group(0))
    for m in NOTE_WORD.finditer(text):
        bad(m.start(), "refers to the %s note, which is not in the "
            "repository: cite a heading of a file in docs/" % m.group(0))
    start = 0
    while True:
        pos = text.find(SECTION, start)
        if pos < 0:
            break
        start = pos + 1
        if not RFC_BEFORE.search(text, max(0, pos - 100), pos):
            bad(pos, "section sign outside an RFC citation: cite a file "
                'and a heading, e.g. docs/PROTOCOL.md "Flow control"')
    for m in MACHINE_PATH.finditer(text):
        bad(m.start(), "machine path %r outside the repository"
            % text[m.start():m.start() + 30].split()[0])
    here = os.path.dirname(rel)
    for m in RELATIVE_PATH.finditer(text):
        target = os.path.normpath(os.path.join(here, m.group(1) + m.group(2)))
        if target == ".." or target.startswith("../"):
            bad(m.start(), "relative path %r leaves the repository"
                % (m.group(1) + m.group(2)))


def main(argv):
    root = os.path.abspath(argv[1] if len(argv) > 1 else
                           os.path.join(os.path.dirname(__file__), ".."))
    problems = []
    heading_cache = {}
    checked = 0
    for rel in tracked_files(root):
        if rel.startswith(SKIP_DIRS):
            continue
        text = read_text(os.path.join(root, rel))
        if text is None:
            continue
        checked += 1
        check_file(root, rel, text, heading_cache, problems)
    for p in problems:
        print(p)
    cited = sum(1 for v in heading_cache.values() if v is not None)
    print("check_citations: %d files, %d cited documents, %d problem(s)"
          % (checked, cited, len(problems)))
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
