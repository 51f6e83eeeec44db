# Reads Atom and RSS documents with Python's feedparser and prints one JSON
# line per entry: what a consumer using feedparser gets. Run by
# TestForeignReaders with Debian's /usr/bin/python3 (python3-feedparser).
import base64
import json
import sys

import feedparser


def payload(content):
    """The bytes of an Atom content as feedparser hands them over.

    feedparser decodes Base64 (RFC 4287 section 4.1.3.3 rule 7) into a str
    when the bytes are UTF-8, and leaves the Base64 text as it is when they
    are not (binary data). So a value that is Base64 of bytes that are not
    UTF-8 was left as it was, and is decoded here, as a consumer would."""
    value = content.get("value", "")
    t = content.get("type", "")
    if not (t.startswith("text/") or t.endswith("+xml") or t.endswith("/xml")):
        try:
            data = base64.b64decode(value, validate=True)
            data.decode("utf-8")
        except UnicodeDecodeError:
            return data
        except ValueError:
            pass
    return value.encode("utf-8")


for path in sys.argv[1:]:
    d = feedparser.parse(path)
    if d.bozo:
        print(json.dumps({"doc": path, "error": repr(d.bozo_exception)}))
        continue
    for e in d.entries:
        tags = e.get("tags") or []
        out = {
            "doc": path,
            "id": e.get("id"),
            "title": e.get("title"),
            "category": tags[0]["term"] if tags else None,
            "time": e.get("updated") or e.get("published"),
        }
        if e.get("content"):
            c = e.content[0]
            out["type"] = c.get("type")
            out["payload"] = base64.b64encode(payload(c)).decode()
        print(json.dumps(out))
