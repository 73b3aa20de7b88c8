"""Write the hand-written translations of zh_hans_translations.py into the zh_Hans catalogue.

Run after `python manage.py makemessages -l zh_Hans ...` (see `make messages`): every message
the code marks is filled from the mapping; one with no translation stops this script with its
text, so nothing reaches the site untranslated.
"""

import re
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from zh_hans_translations import ZH_HANS  # noqa: E402

CATALOGUE = Path(__file__).resolve().parent / "zh_Hans" / "LC_MESSAGES" / "django.po"
HEADER = {
    "Project-Id-Version": "mlsite",
    "PO-Revision-Date": "2026-11-30 00:00+0000",
    "Last-Translator": "mlsite team",
    "Language-Team": "Simplified Chinese",
    "Language": "zh_Hans",
}
STRING = re.compile(r'"((?:[^"\\]|\\.)*)"')


def unquote(lines: list[str]) -> str:
    text = "".join(STRING.search(line).group(1) for line in lines)
    return re.sub(r"\\(.)", lambda match: {"n": "\n", "t": "\t"}.get(match.group(1), match.group(1)), text)


def quote(text: str) -> str:
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n") + '"'


def main() -> int:
    blocks = CATALOGUE.read_text().split("\n\n")
    header, entries, missing = blocks[0], [], []
    header = header.replace("#, fuzzy\n", "", 1)
    for field, value in HEADER.items():
        header = re.sub(rf'"{field}: [^"]*\\n"', f'"{field}: {value}\\\\n"', header)
    for block in blocks[1:]:
        # Fuzzy guesses and their previous msgid ("#|") go: every entry is filled from ZH_HANS below.
        lines = [line for line in block.strip().splitlines() if not line.startswith(("#, fuzzy", "#|"))]
        lines = [line.replace(", fuzzy", "") for line in lines]
        comments = [line for line in lines if line.startswith("#")]
        body = [line for line in lines if not line.startswith("#")]
        if not body or body[0].startswith("#~"):
            continue  # an obsolete entry (a string the code no longer marks): dropped
        sections: dict[str, list[str]] = {}
        current = ""
        for line in body:
            if not line.startswith('"'):
                current = line.split(" ", 1)[0]
                sections[current] = [line]
            else:
                sections[current].append(line)
        msgid = unquote(sections["msgid"])
        if "msgctxt" in sections:  # a message with a context is keyed "context\x04msgid", as gettext keys it
            msgid = f"{unquote(sections['msgctxt'])}\x04{msgid}"
        translation = ZH_HANS.get(msgid)
        if translation is None:
            missing.append(msgid)
            continue
        out = [*comments, *sections.get("msgctxt", []), *sections["msgid"]]
        if "msgid_plural" in sections:
            forms = translation if isinstance(translation, list) else [translation]
            out += sections["msgid_plural"]
            out += [f"msgstr[{index}] {quote(form)}" for index, form in enumerate(forms)]
        else:
            out.append(f"msgstr {quote(translation)}")
        entries.append("\n".join(out))
    if missing:
        print("No translation for:", *missing, sep="\n  ", file=sys.stderr)
        return 1
    CATALOGUE.write_text("\n\n".join([header, *entries]) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
