#!/usr/bin/env python3
# test_bench_smoke.py - tools/bench.sh --smoke runs every scenario to the end
#
# The benchmark is not a test of speed: this only checks that the suite
# runs on tiny sizes, leaves nothing mounted, and writes a JSON file with
# every scenario's figures (finite, positive where they are times) and a
# Markdown table with a row per figure. One behaviour is real and checked:
# ten versions sharing one file take less than two copies of it in the
# store (dedup works). No timing assertions.

import json
import math
import os
import subprocess

import util

ROOT = util.basename
SCENARIOS = ['register', 'read', 'metadata', 'promotion', 'scale', 'dedup', 'copy', 'multihost']


def scratch_dirs(bench_dir):
    return {n for n in os.listdir(bench_dir) if n.startswith('modelfs-bench.')}


def modelfs_mounts_under(path):
    with open('/proc/self/mounts') as f:
        return [line for line in f if line.split()[1].startswith(path)]


def test_bench_smoke(tmp_path):
    out_json = tmp_path / 'x.json'
    out_md = tmp_path / 'x.md'
    # The default scratch place (on the disk under test, reachable by the
    # other user the through-the-mount modelctl run takes); --smoke caches
    # nothing there.
    bench_dir = os.environ.get('MODELFS_BENCH_DIR') or '/var/tmp'
    before = scratch_dirs(bench_dir)
    env = dict(os.environ, MODELFS_BUILD=util.build_dir)
    res = subprocess.run([os.path.join(ROOT, 'tools', 'bench.sh'), '--smoke', '--json',
                          str(out_json), '--markdown', str(out_md)],
                         stdout=subprocess.PIPE, stderr=subprocess.STDOUT, env=env,
                         timeout=240)
    log = res.stdout.decode(errors='replace')
    assert res.returncode == 0, log[-6000:]
    # Nothing left mounted, the scratch directory removed.
    assert modelfs_mounts_under(os.path.join(bench_dir, 'modelfs-bench.')) == []
    assert scratch_dirs(bench_dir) - before == set()

    doc = json.loads(out_json.read_text())
    assert doc['smoke'] is True
    assert sorted(doc['scenarios']) == sorted(SCENARIOS)
    for name in SCENARIOS:
        sc = doc['scenarios'][name]
        assert sc['error'] is None, '%s: %s' % (name, sc['error'])
        assert sc['metrics'], 'scenario %s reported nothing' % name
        for m in sc['metrics']:
            where = '%s / %s' % (name, m['metric'])
            for field in ('modelfs', 'reference', 'ratio'):
                v = m[field]
                if v is None:
                    assert field != 'modelfs', where
                    continue
                assert isinstance(v, (int, float)) and not isinstance(v, bool), where
                assert math.isfinite(v), '%s: %s = %r' % (where, field, v)
                if m['kind'] in ('time', 'latency', 'rss', 'space'):
                    assert v > 0, '%s: %s = %r' % (where, field, v)
                else:
                    assert v >= 0, '%s: %s = %r' % (where, field, v)
            if m['target'] is not None:
                assert m['met'] in (True, False), where
            else:
                assert m['met'] is None, where

    # Real behaviour: ten versions sharing one file store it once.
    facts = doc['scenarios']['dedup']['facts']
    assert facts['versions'] == 10
    assert 0 < facts['store_growth_bytes'] < 2 * facts['file_bytes'], facts

    # One table row per figure, and the machine described.
    md = out_md.read_text()
    rows = [line for line in md.splitlines()
            if line.startswith('| ') and not line.startswith('| scenario')]
    assert len(rows) == len(doc['records']) and rows
    for rec in doc['records']:
        assert any(row.startswith('| %s | %s' % (rec['scenario'], rec['metric'].replace('|', '\\|')))
                   for row in rows), rec['metric']
    for word in ('Linux', 'CPUs', 'GiB RAM', doc['machine']['disk']['fstype']):
        assert word in md
