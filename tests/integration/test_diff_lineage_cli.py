#!/usr/bin/env python3
# test_diff_lineage_cli.py - modelctl diff and modelctl lineage, answers
# checked exactly against versions made through the mount.

import json
from os.path import join as pjoin

from util import seal


def make(mounted, version, files, meta):
    files = dict(files)
    files['metadata.json'] = json.dumps(meta).encode()
    vdir = mounted.version('churn', version, files)
    seal(vdir)
    return vdir


def test_diff_reports_metadata_metrics_and_files(mounted):
    make(mounted, '1.0.0', {'w.bin': b'old', 's.txt': b'same'},
         {'metrics': {'auc': 0.5, 'loss': 0.25}, 'hyperparameters': {'C': 1, 'depth': 3},
          'description': 'first', 'run_id': 'r1'})
    make(mounted, '1.1.0', {'w.bin': b'new', 's.txt': b'same', 'n.json': b'{}'},
         {'metrics': {'auc': 0.75, 'f1': 0.5}, 'hyperparameters': {'C': 0.5, 'depth': 3},
          'description': 'second', 'parents': ['churn@1.0.0']})
    res = mounted.modelctl('diff', 'churn', '1.0.0', '1.1.0', as_json=True, check=False)
    assert res.returncode == 1, res.stderr      # they differ: as diff(1)
    d = json.loads(res.stdout)
    assert (d['model'], d['from'], d['to']) == ('churn', '1.0.0', '1.1.0')
    assert d['metadata'] == {'added': {'parents': ['churn@1.0.0']},
                             'removed': {'run_id': 'r1'},
                             'changed': {'description': {'from': 'first', 'to': 'second'}}}
    assert d['hyperparameters'] == {'added': {}, 'removed': {},
                                    'changed': {'C': {'from': 1, 'to': 0.5}}}
    assert d['metrics'] == {'auc': {'from': 0.5, 'to': 0.75, 'delta': 0.25},
                            'loss': {'from': 0.25, 'to': None},
                            'f1': {'from': None, 'to': 0.5}}
    assert d['files']['added'] == ['n.json']
    assert d['files']['removed'] == []
    assert [c['path'] for c in d['files']['changed']] == ['w.bin']
    assert d['formats'] == {'from': ['text'], 'to': ['json', 'text']}
    res = mounted.modelctl('diff', 'churn', '1.0.0', '1.1.0', check=False)
    assert res.returncode == 1
    text = res.stdout.decode()
    assert 'metric auc: 0.5 -> 0.75 (+0.25)' in text
    assert 'file ~ w.bin' in text
    # A version against itself, and against a copy with the same files and
    # metadata: no difference, exit 0.
    make(mounted, '1.2.0', {'w.bin': b'new', 's.txt': b'same', 'n.json': b'{}'},
         {'metrics': {'auc': 0.75, 'f1': 0.5}, 'hyperparameters': {'C': 0.5, 'depth': 3},
          'description': 'second', 'parents': ['churn@1.0.0']})
    for a, b in (('1.1.0', '1.1.0'), ('1.1.0', '1.2.0')):
        res = mounted.modelctl('diff', 'churn', a, b, as_json=True)
        assert res.returncode == 0
        assert res.json['files'] == {'added': [], 'removed': [], 'changed': []}


def test_lineage_graph_formats(mounted):
    make(mounted, '1.0.0', {'w': b'1'}, {'parents': ['base@9.9.9']})
    make(mounted, '1.1.0', {'w': b'2'}, {'parents': ['churn@1.0.0']})
    make(mounted, '2.0.0', {'w': b'3'}, {'parents': ['churn@1.1.0']})
    g = mounted.modelctl('lineage', 'churn@1.1.0', '--descendants', '--format', 'json',
                         as_json=True).json
    assert g['root'] == 'churn@1.1.0'
    assert {(n['ref'], n['resolved']) for n in g['nodes']} == {
        ('churn@1.1.0', True), ('churn@1.0.0', True), ('base@9.9.9', False),
        ('churn@2.0.0', True)}
    assert sorted(map(tuple, g['edges'])) == [
        ('base@9.9.9', 'churn@1.0.0'), ('churn@1.0.0', 'churn@1.1.0'),
        ('churn@1.1.0', 'churn@2.0.0')]
    dot = mounted.modelctl('lineage', 'churn@1.1.0').stdout.decode()
    assert dot.startswith('digraph lineage {')
    assert '"churn@1.0.0" -> "churn@1.1.0";' in dot
    assert '"base@9.9.9" [style=dashed];' in dot
    assert 'churn@2.0.0' not in dot      # no --descendants
    mer = mounted.modelctl('lineage', 'churn@2.0.0', '--format', 'mermaid').stdout.decode()
    assert mer.splitlines()[0] == 'graph LR'
    assert mer.count('-->') == 3
