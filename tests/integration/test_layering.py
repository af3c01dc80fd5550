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


# store/'s layers, bottom up (README, "Layout of the code"). A file may
# include headers of its own layer and those below, never of a higher one:
# the storage seam knows nothing of the registry, the objects nothing of
# governance (they ask it through struct store_rules, objects.h).
LAYERS = [
    ('base', {'err', 'log', 'clock', 'ioprio', 'hash', 'semver', 'meta', 'format', 'query', 'sys',
              'config', 'progress'}),
    ('seam', {'kv', 'kv_engine', 'kv_lmdb', 'kv_pg'}),
    ('objects', {'store', 'objects', 'model', 'version', 'alias', 'seal', 'blob', 'ref',
                 'change', 'lease', 'sha256', 'perm', 'backup', 'fsck'}),
    ('governance', {'governance', 'audit', 'stream', 'history', 'policy', 'annot', 'promote',
                    'doc', 'gc', 'registry'}),
]
LAYER_OF = {stem: i for i, (_name, stems) in enumerate(LAYERS) for stem in stems}
INCLUDE = re.compile(r'^\s*#\s*include\s*"([^"]+)\.h"', re.M)


def test_store_layers_include_only_what_is_below():
    root = pjoin(util.basename, 'store')
    files = sorted(f for f in os.listdir(root) if f.endswith(('.c', '.h')))
    unknown = [f for f in files if os.path.splitext(f)[0] not in LAYER_OF]
    assert not unknown, 'store/ files in no layer (add them to LAYERS): %s' % unknown
    bad = []
    for f in files:
        mine = LAYER_OF[os.path.splitext(f)[0]]
        with open(pjoin(root, f), encoding='utf-8') as fh:
            for inc in INCLUDE.findall(fh.read()):
                theirs = LAYER_OF.get(inc)
                if theirs is None or theirs > mine:
                    bad.append('store/%s (%s) includes %s.h (%s)' % (
                        f, LAYERS[mine][0], inc,
                        LAYERS[theirs][0] if theirs is not None else 'no layer'))
    assert not bad, '\n'.join(bad)


def test_only_the_engines_include_the_engine_header():
    root = pjoin(util.basename, 'store')
    users = sorted(f for f in os.listdir(root) if f.endswith(('.c', '.h')) and
                   'kv_engine' in INCLUDE.findall(open(pjoin(root, f), encoding='utf-8').read()))
    assert users == ['kv.c', 'kv_lmdb.c', 'kv_pg.c'], users
