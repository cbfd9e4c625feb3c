#!/usr/bin/env python3
"""docs_extract.py — find the shell commands shown in rustymem's Markdown.

Used by tests/integration/test_docs.sh (through docs_run.py); run by hand to see
what the docs test will do with a file:

    python3 tests/integration/docs_extract.py README.md docs/fleet.md

prints one JSON object per fenced block. The rules (docs/testing.md, "Docs
test", says the same for writers):

* A fenced block tagged sh, bash, shell, console or shell-session is shell. A
  block without a tag is shell when its first command word is a program (a
  rustymem binary, an executable file of the checkout, a shell builtin or a
  program on PATH); otherwise it is text (a file listing, a request message).
  Blocks tagged with anything else (yaml, json, c, ini, text) are text.
* In a shell block that has lines starting with "$ ", those lines are the
  commands and the lines after each, up to the next "$ ", are its documented
  output. Otherwise every line is a command; "\\" continues a line, lines that
  are only a comment are skipped, a trailing "# comment" is prose.
* HTML comments directly above a fence (blank lines allowed) steer the test:
    <!-- docs-test: skip: REASON -->      do not run the block (its flags are
                                          still checked against --help)
    <!-- docs-test: synopsis -->          a usage synopsis: check its flags only
    <!-- docs-test: file: PATH -->        the block is a file: write it to PATH
                                          (relative to the checkout) before the
                                          file's first command runs
    <!-- docs-test: interrupt: PREFIX after SECONDS -->
                                          a command starting with PREFIX runs
                                          until interrupted: it must still be
                                          running after SECONDS, then gets SIGINT
    <!-- docs-test: exit: N -->           every command of the block must exit N
    <!-- docs-test: systemd -->           systemctl in this block starts, reloads and
                                          checks the installed units' ExecStart
                                          lines the way systemd would (docs_run.py,
                                          systemctl()), for machines without systemd
* Inline code spans in prose are not run. Those that start with a rustymem
  program (rustymemctl, rustymemd, rustymem-exporter, rustymem-fleet,
  rustymem-load, rustymem-bench, also as build/.../NAME) or scripts/*.sh get
  their --flags (and rustymemctl its command words) checked against the
  program's --help.
* Inline code spans that are paths of the checkout (scripts/…, docs/…,
  tests/…, deploy/…, proto/…, memcore/…, service/…, agents/…, cli/…) or of the
  build tree (build/…) must exist; globs and {a,b} are expanded, spans with a
  placeholder (<…>, NNNN, …) and directories a run creates (build/…/) are
  not checked.
"""
import json
import os
import re
import shutil
import sys

PROGRAMS = ("rustymemctl", "rustymemd", "rustymem-exporter", "rustymem-fleet",
            "rustymem-load", "rustymem-bench")
SHELL_LANGS = {"sh", "bash", "shell", "console", "shell-session", "zsh"}
TOOLS = {"kubectl", "podman", "docker", "kind", "helm", "systemctl", "journalctl", "apt",
         "apt-get", "curl", "git", "cmake", "ctest", "make", "openssl", "install", "python3", "jq",
         "promtool", "sudo"}
BUILTINS = {"cd", "export", "for", "if", "while", "kill", "echo", "printf", "set",
            "source", ".", "mkdir", "cp", "rm", "test", "[", "(", "read", "wait"}
MARKER = re.compile(r"<!--\s*docs-test:\s*(.*?)\s*-->")
FENCE = re.compile(r"^(\s*)(```+|~~~+)\s*([\w+-]*)\s*.*$")


def strip_comment(line):
    """The line without a trailing unquoted '# comment'."""
    quote = None
    i = 0
    while i < len(line):
        c = line[i]
        if quote:
            if c == "\\" and quote == '"':
                i += 2
                continue
            if c == quote:
                quote = None
        elif c == "\\":
            i += 2
            continue
        elif c in "'\"":
            quote = c
        elif c == "#" and (i == 0 or line[i - 1] in " \t;"):
            return line[:i].rstrip()
        i += 1
    return line.rstrip()


def words(cmd):
    """Shell-ish words of a command (quotes removed, no expansion)."""
    out, cur, quote, i = [], "", None, 0
    has = False
    while i < len(cmd):
        c = cmd[i]
        if quote:
            if c == quote:
                quote = None
            elif c == "\\" and quote == '"' and i + 1 < len(cmd):
                i += 1
                cur += cmd[i]
            else:
                cur += c
        elif c in "'\"":
            quote, has = c, True
        elif c == "\\" and i + 1 < len(cmd):
            i += 1
            cur += cmd[i]
            has = True
        elif c.isspace():
            if cur or has:
                out.append(cur)
            cur, has = "", False
        else:
            cur += c
            has = True
        i += 1
    if cur or has:
        out.append(cur)
    return out


ASSIGN = re.compile(r"""^\s*[A-Za-z_]\w*=(\$\([^()]*\)|"[^"]*"|'[^']*'|[^\s;]*)\s*;?\s*""")


def command_word(cmd):
    """The program a command line runs (skipping VAR=value assignments), or ''.
    A line of assignments only (R=$(openssl rand -hex 24); A=…) runs 'export'."""
    rest = cmd
    while ASSIGN.match(rest):
        rest = ASSIGN.sub("", rest, count=1)
    if rest != cmd and not rest.strip():
        return "export"
    for w in words(rest):
        if re.match(r"^[A-Za-z_][A-Za-z0-9_]*=", w):
            continue
        return w
    return ""


def is_program(word, root):
    if not word:
        return False
    if os.path.basename(word) in PROGRAMS or word in BUILTINS or word in TOOLS:
        return True
    if "/" in word:
        p = os.path.join(root, word)
        return os.path.isfile(p) and os.access(p, os.X_OK) or word.startswith(("build/", "scripts/"))
    return shutil.which(word) is not None


def parse_markers(texts):
    m = {}
    for t in texts:
        mm = re.match(r"(skip|file|exit|interrupt)\s*:\s*(.*)$", t)
        if mm:
            m.setdefault(mm.group(1), []).append(mm.group(2).strip())
        elif t.strip() in ("synopsis", "systemd"):
            m[t.strip()] = [""]
        else:
            m.setdefault("bad", []).append(t)
    return m


def join_continuations(lines):
    """[(lineno, text)] with backslash-continued lines joined."""
    out, buf, start = [], "", None
    for no, text in lines:
        if start is None:
            start = no
        if text.rstrip().endswith("\\"):
            buf += text.rstrip()[:-1] + " "
            continue
        buf += text
        out.append((start, buf))
        buf, start = "", None
    if buf:
        out.append((start, buf))
    return out


def extract_commands(body, first_line):
    """Commands of a shell block: [{line, text, expect:[lines]}]."""
    numbered = [(first_line + i, l) for i, l in enumerate(body)]
    if any(l.lstrip().startswith("$ ") for _, l in numbered):
        cmds = []
        for no, l in numbered:
            s = l.lstrip()
            if s.startswith("$ "):
                cmds.append({"line": no, "text": s[2:], "expect": []})
            elif cmds and cmds[-1]["text"].rstrip().endswith("\\") and not cmds[-1]["expect"]:
                cmds[-1]["text"] = cmds[-1]["text"].rstrip()[:-1] + " " + s
            elif cmds and s.strip():
                cmds[-1]["expect"].append(s.rstrip())
        for c in cmds:
            c["text"] = strip_comment(c["text"])
        return cmds
    cmds = []
    for no, text in join_continuations(numbered):
        t = strip_comment(text).strip()
        if t:
            cmds.append({"line": no, "text": t, "expect": []})
    return cmds


PATH_RE = re.compile(r"^(\./)?(build|scripts|docs|tests|deploy|proto|memcore|engine|service|agents|tools|integrations|cli|cmake|\.ci)/[\w./*{},-]*$")


def inline_paths(line, no):
    """Inline code spans that name a file of the checkout or the build tree."""
    out = []
    for span in re.findall(r"(?<!`)`([^`\n]+)`(?!`)", line):
        w = span.split()[0] if span.split() else ""
        if PATH_RE.match(w) and not re.search(r"<|NNNN|\.\.\.|…", w) \
                and not (w.startswith("build/") and w.endswith("/")):   # output directories of a run
            out.append({"line": no, "path": w})
    return out


def inline_commands(line, no, root):
    out = []
    for span in re.findall(r"(?<!`)`([^`\n]+)`(?!`)", line):
        w = command_word(span)
        base = os.path.basename(w)
        if base in PROGRAMS or re.match(r"^(\./)?scripts/[\w-]+\.sh$", w):
            out.append({"line": no, "text": span})
    return out


def extract(path, root):
    """Blocks and inline commands of one Markdown file."""
    with open(os.path.join(root, path), encoding="utf-8") as f:
        lines = f.read().split("\n")
    blocks, inline, paths = [], [], []
    pending = []          # marker texts seen since the last non-blank, non-marker line
    i = 0
    while i < len(lines):
        line = lines[i]
        m = FENCE.match(line)
        if m:
            indent, fence, lang = m.group(1), m.group(2), m.group(3).lower()
            body, j = [], i + 1
            while j < len(lines):
                mm = re.match(r"^\s*" + re.escape(fence[0]) + "{" + str(len(fence)) + r",}\s*$", lines[j])
                if mm:
                    break
                l = lines[j]
                body.append(l[len(indent):] if l.startswith(indent) else l.lstrip())
                j += 1
            markers = parse_markers(pending)
            pending = []
            first_line = i + 2
            kind = "text"
            if lang in SHELL_LANGS:
                kind = "shell"
            elif lang == "":
                for l in body:
                    s = l.strip()
                    if not s or s.startswith("#"):
                        continue
                    if s.startswith("$ "):
                        s = s[2:]
                    kind = "shell" if is_program(command_word(strip_comment(s)), root) else "text"
                    break
            if "file" in markers:
                kind = "file"
            elif "synopsis" in markers:
                kind = "synopsis"
            block = {"file": path, "line": i + 1, "lang": lang, "kind": kind,
                     "untagged": lang == "", "markers": markers, "body": body}
            if kind in ("shell", "synopsis"):
                block["commands"] = extract_commands(body, first_line)
            blocks.append(block)
            i = j + 1
            continue
        mk = MARKER.findall(line)
        if mk:
            pending.extend(mk)
        elif line.strip():
            pending = []
            inline.extend(inline_commands(line, i + 1, root))
            paths.extend(inline_paths(line, i + 1))
        i += 1
    return {"file": path, "blocks": blocks, "inline": inline, "paths": paths}


def main(argv):
    root = os.environ.get("RM_SOURCE_DIR") or os.path.abspath(os.path.join(os.path.dirname(__file__), "../.."))
    for p in argv[1:]:
        print(json.dumps(extract(p, root), indent=1))


if __name__ == "__main__":
    main(sys.argv)
