#!/usr/bin/env python3
"""Prints each failed test of a nextest JUnit file with the lines that say why (the panic and
its message), so a CI log whose middle is cut still shows every failure's cause at its end."""
import re
import sys
import xml.etree.ElementTree as ET

path = sys.argv[1]
try:
    root = ET.parse(path).getroot()
except (OSError, ET.ParseError) as e:
    print(f"(no JUnit file to summarize: {e})")
    sys.exit(0)
for case in root.iter("testcase"):
    failures = case.findall("failure") + case.findall("error")
    if not failures:
        continue
    name = f"{case.get('classname', '')} {case.get('name', '')}".strip()
    print(f"--- FAILED {name}")
    text = "\n".join((f.get("message") or "") + "\n" + (f.text or "") for f in failures)
    for el in ("system-out", "system-err"):
        for out in case.iter(el):
            text += "\n" + (out.text or "")
    lines = text.splitlines()
    picked = []
    for i, line in enumerate(lines):
        if re.search(r"panicked at|assertion|Error response|stderr:|left:|right:", line):
            picked.extend(j for j in range(i, min(i + 3, len(lines))) if j not in picked)
    for j in picked[:24]:
        print("    " + lines[j][:400])
    if not picked:
        for l in lines[-12:]:
            print("    " + l[:400])
