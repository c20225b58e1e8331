#!/usr/bin/env python3
"""Fails (exit 1) when a source file includes a header of a component its
folder may not use. The allowed dependencies are the DEPS each component is
declared with in CMakeLists.txt (written to boundaries.txt at configure time),
closed transitively; unit tests (*_test.cc, *_test_util.h) may also use their
component's TEST_DEPS. Usage: check-boundaries.py SOURCE_DIR BOUNDARIES_FILE"""
import os
import re
import sys

src_root, table = sys.argv[1], sys.argv[2]
comps = {}  # name -> (dir relative to src/, deps, test deps)
for line in open(table):
    line = line.strip()
    if not line:
        continue
    head, _, tests = line.partition(":")
    parts = head.split()
    name, d = parts[0], parts[1]
    deps = parts[2].split(",") if len(parts) > 2 and parts[2] else []
    tdeps = [t for t in tests.strip().split(",") if t]
    comps[name] = (os.path.relpath(d, "src"), deps, tdeps)


def closure(names):
    seen, todo = set(), list(names)
    while todo:
        n = todo.pop()
        if n in seen or n not in comps:
            continue
        seen.add(n)
        todo.extend(comps[n][1])
    return seen


def owner(header):
    """The component whose folder holds `header` (longest folder prefix)."""
    best = None
    for name, (d, _, _) in comps.items():
        if os.path.dirname(header) == d:
            best = name
    return best


include = re.compile(r'^\s*#\s*include\s+"([^"]+)"')
errors = []
for name, (d, deps, tdeps) in comps.items():
    folder = os.path.join(src_root, "src", d)
    allowed = closure(deps) | {name}
    allowed_tests = allowed | closure(tdeps)
    for f in sorted(os.listdir(folder)):
        if not f.endswith((".cc", ".h")):
            continue
        is_test = f.endswith("_test.cc") or "_test_util" in f
        ok = allowed_tests if is_test else allowed
        for n, text in enumerate(open(os.path.join(folder, f)), 1):
            m = include.match(text)
            if not m:
                continue
            o = owner(m.group(1))
            if o is not None and o not in ok:
                errors.append(f"src/{d}/{f}:{n}: includes {m.group(1)} (component '{o}'), "
                              f"but '{name}' may use only: {', '.join(sorted(ok - {name})) or 'nothing of ours'}")
for e in errors:
    print(e, file=sys.stderr)
if errors:
    print(f"{len(errors)} include(s) cross a component boundary; see DESIGN.md's dependency "
          "rules and the DEPS in CMakeLists.txt", file=sys.stderr)
    sys.exit(1)
