#!/usr/bin/env python3
# test_layering.py - fs/ and tools/ know nothing of LMDB or xxHash (STYLE A12);
# in store/, only the storage seam's engines name LMDB or libpq
#
# store/ is the seam (DESIGN §2): a daemon or CLI that named mdb_* or XXH*
# could not move to another metadata store.

import os
import re
from os.path import join as pjoin

import pytest

import util

FORBIDDEN = re.compile(r'#\s*include\s*[<"](lmdb\.h|xxhash\.h)[>"]|\bmdb_\w+|\bMDB_\w+|\bXXH\w*')


@pytest.mark.parametrize('subdir', ['fs', 'tools'])
def test_no_lmdb_or_xxhash_outside_store(subdir):
    root = pjoin(util.basename, subdir)
    sources = []
    for dirpath, _dirs, files in os.walk(root):
        sources += [pjoin(dirpath, f) for f in files if f.endswith(('.c', '.h'))]
    assert sources, 'no C sources under %s' % root
    hits = []
    for path in sources:
        with open(path, encoding='utf-8', errors='replace') as fh:
            for no, line in enumerate(fh, 1):
                if FORBIDDEN.search(line):
                    hits.append('%s:%d: %s' % (os.path.relpath(path, util.basename),
                                               no, line.strip()))
    assert not hits, '\n'.join(hits)


ENGINE = re.compile(r'#\s*include\s*[<"](lmdb\.h|libpq-fe\.h|kv_engine\.h)[>"]|\bmdb_\w+|\bMDB_\w+|\bPQ\w+\(')
ENGINE_FILES = {'kv.c', 'kv_lmdb.c', 'kv_pg.c', 'kv_engine.h'}


def test_only_the_storage_seam_names_an_engine():
    """kv.h is the one seam: LMDB and libpq are named by their engines
    (kv_lmdb.c, kv_pg.c) and nowhere else in store/."""
    root = pjoin(util.basename, 'store')
    hits = []
    for name in sorted(os.listdir(root)):
        if not name.endswith(('.c', '.h')) or name in ENGINE_FILES:
            continue
        with open(pjoin(root, name), encoding='utf-8', errors='replace') as fh:
            text = fh.read()
        # Comments may name them; code may not. Blank comments out, keeping
        # their newlines so line numbers hold.
        code = re.sub(r'/\*.*?\*/', lambda m: re.sub(r'[^\n]', ' ', m.group(0)), text,
                      flags=re.S)
        for no, line in enumerate(code.split('\n'), 1):
            if ENGINE.search(line):
                hits.append('store/%s:%d: %s' % (name, no, line.strip()))
    assert not hits, '\n'.join(hits)
