#!/usr/bin/env python3
"""Checks that no top-level module of the crate imports, directly or not, a
module that imports it (DESIGN.md, "Modules"). Unit tests (`#[cfg(test)]`)
and doc links are left out: tests may use anything. Prints the graph; exits 1
on a cycle. Run from the repository root: `python3 scripts/module_cycles.py`.
"""
import sys
import re,glob
reexp={'Runner':'runner','Builder':'runner','LostPanic':'runner','run':'runner','Error':'error','Context':'context','ContextVar':'context','ContextError':'context','Scope':'context','SetGuard':'context','Token':'context','copy_context':'context','interrupt_token':'signal','interrupted':'signal','JoinHandle':'task','spawn':'task','spawn_blocking':'task','spawn_local':'task'}
mods={}
for f in glob.glob('src/**/*.rs',recursive=True):
    rel=f[4:]
    top=rel.split('/')[0].replace('.rs','')
    if top=='lib': continue
    s=open(f).read()
    s=re.sub(r'//.*','',s)  # drop comments and doc links
    s=s.split("#[cfg(test)]")[0]  # unit tests may use anything
    deps=set()
    for m in re.findall(r'crate::(\w+)',s): deps.add(reexp.get(m,m))
    for grp in re.findall(r'use crate::\{([^;]*)\};',s,flags=re.S):
        for m in re.findall(r'(?:^|,|\{)\s*(\w+)',grp): deps.add(reexp.get(m,m))
    mods.setdefault(top,set()).update(d for d in deps if d!=top)
names=set(mods)
mods={k:{d for d in v if d in names} for k,v in mods.items()}
def reach(a):
    seen=set();st=[a]
    while st:
        x=st.pop()
        for y in mods.get(x,()):
            if y not in seen: seen.add(y); st.append(y)
    return seen
cycles = sorted({tuple(sorted((a, b))) for a in mods for b in mods[a] if a in reach(b)})
for k in sorted(mods):
    print(f"  {k} -> {', '.join(sorted(mods[k]))}")
if cycles:
    print(f"import cycles between modules: {cycles}")
    sys.exit(1)
print("no import cycles between modules")
