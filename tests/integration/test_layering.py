#!/usr/bin/env python3
# test_layering.py - fs/ and tools/ know nothing of LMDB or xxHash (STYLE A12)
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
