#!/usr/bin/env python3
# test_examples.py - the examples in examples/ run as documented

import json
import os
from os.path import join as pjoin

import util

HERE = os.path.dirname(os.path.abspath(__file__))
WALK = pjoin(HERE, '..', '..', 'examples', 'governance', 'walkthrough.sh')


def test_governance_walkthrough(mounted, users):
    util.open_path(mounted.mnt)
    res = util.run([WALK, mounted.mnt], check=False, timeout=300,
                   env=dict(os.environ, MODELCTL=util.MODELCTL))
    out = util._s(res.stdout) + util._s(res.stderr)
    assert res.returncode == 0, out
    assert out.count('refused, as it should be') == 7, out
    mdir = pjoin(mounted.models, 'fraud')
    assert os.readlink(pjoin(mdir, 'production')) == 'versions/1.0.0'
    moves = [json.loads(line) for line in open(pjoin(mdir, 'history.jsonl'))
             if json.loads(line)['alias'] == 'production']
    assert [m['to'] for m in moves] == ['1.0.0', '1.2.0', '1.0.0']
    assert sorted(moves[0]['approvals']) == ['mfs_bob', 'mfs_dave']
