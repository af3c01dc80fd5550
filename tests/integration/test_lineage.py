#!/usr/bin/env python3
# test_lineage.py - lineage.json: parents, children and ancestors across
# models and generations; parents the registry lacks are kept, unresolved.

import json
from os.path import join as pjoin

import errno

from util import expect_errno, is_sealed, read_json, seal


def make(mounted, model, version, meta):
    vdir = mounted.version(model, version, {'w.bin': (model + version).encode(),
                                            'metadata.json': json.dumps(meta).encode()})
    seal(vdir)
    return vdir


def test_lineage_three_generations_two_models(mounted):
    emb = make(mounted, 'embedder', '2.0.0', {'dataset_snapshot_id': 'corpus-7',
                                              'parents': ['hub-model@1']})
    g1 = make(mounted, 'churn', '1.0.0', {'dataset_snapshot_id': 'snap-1',
                                          'feature_set_version': 'fs-3',
                                          'parents': ['embedder@2.0.0']})
    g2 = make(mounted, 'churn', '1.1.0', {'run_id': 'run-2', 'code_commit': 'abc123',
                                          'parents': ['churn@1.0.0', 'gone@0.1.0']})
    lin = read_json(pjoin(g2, 'lineage.json'))
    assert (lin['model'], lin['version'], lin['run_id'], lin['code_commit']) == \
        ('churn', '1.1.0', 'run-2', 'abc123')
    assert [(p['ref'], p['resolved']) for p in lin['parents']] == \
        [('churn@1.0.0', True), ('gone@0.1.0', False)]
    assert [(a['ref'], a['depth'], a['resolved']) for a in lin['ancestors']] == [
        ('churn@1.0.0', 1, True), ('gone@0.1.0', 1, False),
        ('embedder@2.0.0', 2, True), ('hub-model@1', 3, False)]
    by_ref = {a['ref']: a for a in lin['ancestors']}
    assert by_ref['churn@1.0.0']['dataset_snapshot_id'] == 'snap-1'
    assert by_ref['churn@1.0.0']['feature_set_version'] == 'fs-3'
    assert by_ref['embedder@2.0.0']['dataset_snapshot_id'] == 'corpus-7'
    assert read_json(pjoin(emb, 'lineage.json'))['children'] == ['churn@1.0.0']
    assert read_json(pjoin(g1, 'lineage.json'))['children'] == ['churn@1.1.0']
    assert read_json(pjoin(g2, 'lineage.json'))['children'] == []


def test_draft_children_are_not_listed_until_sealed(mounted):
    parent = make(mounted, 'churn', '1.0.0', {})
    child = mounted.version('churn', '1.1.0', {'w': b'w', 'metadata.json':
                                               b'{"parents": ["churn@1.0.0"]}'})
    assert read_json(pjoin(parent, 'lineage.json'))['children'] == []
    seal(child)
    assert read_json(pjoin(parent, 'lineage.json'))['children'] == ['churn@1.1.0']


def test_parents_of_registered_models_must_be_sealed(mounted):
    '''A parent of a registered model must already be sealed (so lineage
    cannot loop); a version cannot name itself; parents outside the
    registry are fine.'''
    draft = mounted.version('churn', '1.0.0', {'w': b'w'})
    child = mounted.version('churn', '1.1.0', {'w': b'c', 'metadata.json':
                                               b'{"parents": ["churn@1.0.0"]}'})
    mark = mounted.log_mark()
    expect_errno(errno.EINVAL, seal, child)
    assert 'churn@1.0.0' in mounted.log_since(mark)
    assert not is_sealed(child)
    seal(draft)
    seal(child)
    selfish = mounted.version('churn', '1.2.0', {'w': b's', 'metadata.json':
                                                 b'{"parents": ["churn@1.2.0"]}'})
    expect_errno(errno.EINVAL, seal, selfish)
    ghost = mounted.version('churn', '1.3.0', {'w': b'g', 'metadata.json':
                                               b'{"parents": ["churn@9.9.9"]}'})
    expect_errno(errno.EINVAL, seal, ghost)
    external = mounted.version('churn', '1.4.0', {'w': b'e', 'metadata.json':
                                                  b'{"parents": ["hub-bert@2"]}'})
    seal(external)
