#!/usr/bin/env python3
# test_examples.py - the examples in examples/ run as documented
#
# Each example runs against a real mount (both engines) and must end with
# its `ok:` line; then the test checks through the mount what the example
# claims to have done: where aliases point, what history.jsonl and the
# audit trail say, what the registry detected.

import datetime
import errno
import json
import os
import stat
from os.path import join as pjoin

import pytest

import util

HERE = os.path.dirname(os.path.abspath(__file__))
EXAMPLES = os.path.realpath(pjoin(HERE, '..', '..', 'examples'))
WALK = pjoin(EXAMPLES, 'governance', 'walkthrough.sh')
HOOK = pjoin(EXAMPLES, '11-cicd', 'notify-hook')


@pytest.fixture(autouse=True)
def notify_outbox(tmp_path, monkeypatch):
    '''Where examples/11-cicd/notify-hook writes: the daemon (started by
    `mounted`, after this autouse fixture) and the example inherit it.'''
    path = pjoin(str(tmp_path), 'notify.jsonl')
    monkeypatch.setenv('MODELFS_NOTIFY', path)
    return path


def run_example(mounted, script, timeout=110):
    '''Run examples/SCRIPT on the mount; require exit 0 and a final `ok:`
    line; return its standard output.'''
    res = util.run([pjoin(EXAMPLES, script), mounted.mnt], check=False, timeout=timeout,
                   env=dict(os.environ, MODELCTL=util.MODELCTL))
    out, err = util._s(res.stdout), util._s(res.stderr)
    assert res.returncode == 0, out + err
    assert out.rstrip().splitlines()[-1].startswith('ok: '), out + err
    return out


def history(mounted, model, alias=None):
    recs = [json.loads(line) for line in open(pjoin(mounted.models, model, 'history.jsonl'))]
    return [r for r in recs if alias is None or r['alias'] == alias]


def audit(mounted, model=None):
    recs = [json.loads(line) for line in open(mounted.path('audit.jsonl'))]
    return [r for r in recs if model is None or r.get('model') == model]


def registry(mounted, model, version):
    return util.registry(pjoin(mounted.models, model, 'versions', version))


def link(mounted, model, alias):
    return os.readlink(pjoin(mounted.models, model, alias))


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


def test_01_semver(mounted):
    out = run_example(mounted, '01-semver/semver.sh')
    assert out.count('refused (Invalid argument)') == 12, out
    m = 'ex01-naming'
    res = mounted.modelctl('list', m, as_json=True)
    assert [(v['version'], v['state']) for v in res.json] == [
        ('1.0.0-alpha', 'sealed'), ('1.0.0-alpha.1', 'draft'), ('1.0.0-rc.1', 'draft'),
        ('1.0.0', 'sealed'), ('1.9.0', 'sealed'), ('1.10.0', 'sealed'),
        ('2.0.0-rc.1', 'sealed'), ('2.0.0', 'sealed')]
    assert link(mounted, m, 'latest') == 'versions/2.0.0'
    vers = pjoin(mounted.models, m, 'versions')
    util.expect_errno(errno.EEXIST, os.mkdir, pjoin(vers, '0.1.0'))        # tombstone
    util.expect_errno(errno.EEXIST, os.mkdir, pjoin(vers, '1.9.0+b2'))
    util.expect_errno(errno.EINVAL, os.mkdir, pjoin(vers, 'v3'))
    util.expect_errno(errno.EPERM, os.mkdir, pjoin(vers, '1.9.5'))         # monotonic
    assert [r['event'] for r in audit(mounted, m) if r['result'] == 'denied'].count(
        'version.create') >= 10


def test_02_stages(mounted):
    run_example(mounted, '02-stages/stages.sh')
    m = 'ex02-stages'
    assert link(mounted, m, 'production') == 'versions/1.2.0'
    assert not os.path.lexists(pjoin(mounted.models, m, 'staging'))
    assert [registry(mounted, m, v)['lifecycle'] for v in ('1.0.0', '1.1.0', '1.2.0')] == [
        'archived', 'deprecated', 'active']
    assert [(r['alias'], r['to']) for r in history(mounted, m)] == [
        ('staging', '1.0.0'), ('production', '1.0.0'), ('staging', '1.1.0'),
        ('production', '1.1.0'), ('staging', '1.2.0'), ('production', '1.2.0'),
        ('staging', None)]
    # production from 1.1.0 (not at staging), an archived version (refused
    # at ln's temporary link), rm production (protected)
    denied = [(r['event'], r['version'], r['errno']) for r in audit(mounted, m)
              if r['result'] == 'denied' and r['event'].startswith('alias.')]
    assert denied == [('alias.create', '1.1.0', 'EPERM'), ('alias.create', '1.0.0', 'EPERM'),
                      ('alias.remove', '1.2.0', 'EPERM')]


def test_03_metadata(mounted):
    run_example(mounted, '03-metadata/metadata.py')
    m = 'ex03-metadata'
    found = mounted.modelctl('find', 'model == "%s"' % m, as_json=True).json
    assert [v['version'] for v in found] == ['1.0.0', '1.1.0', '1.2.0']
    for v in found:
        meta = v['metadata']
        assert v['state'] == 'sealed'
        assert meta['dataset_snapshot_id'] == 'churn-snap-2026-11-01'
        assert set(meta['library_versions']) == {'python', 'numpy', 'scikit-learn', 'joblib'}
        assert datetime.datetime.fromisoformat(meta['training_date']).tzinfo is not None
        assert 0.5 < meta['metrics']['accuracy'] <= 1
    assert [v['metadata']['hyperparameters']['C'] for v in found] == [0.001, 0.1, 10.0]
    assert not os.path.exists(pjoin(mounted.models, m, 'versions', '1.3.0'))
    assert util.read_json(pjoin(mounted.models, m, 'metadata.json'))['owner'] == 'ml-team'
    index = util.read_json(mounted.path('index.json'))
    (entry,) = [e for e in index['models'] if e['model'] == m]
    assert (entry['versions'], entry['drafts'], entry['latest']) == (3, 0, '1.2.0')


def test_04_formats(mounted):
    run_example(mounted, '04-formats/formats.py')
    m = 'ex04-formats'
    reg = registry(mounted, m, '1.0.0')
    assert {f['path']: f['format'] for f in reg['files']} == {
        'model.pkl': 'pickle', 'model.joblib': 'joblib', 'model.onnx': 'onnx',
        'model.torchscript.pt': 'torchscript', 'state_dict.pt': 'torch',
        'model.safetensors': 'safetensors'}
    assert link(mounted, m, 'production') == 'versions/1.0.0'
    prod = pjoin(mounted.models, m, 'production')
    assert os.getxattr(pjoin(prod, 'model.safetensors'), 'user.modelfs.format') == b'safetensors'
    # The hand-made safetensors file: header length, JSON header, 5 floats.
    data = util.read_file(pjoin(prod, 'model.safetensors'))
    n = int.from_bytes(data[:8], 'little')
    header = json.loads(data[8:8 + n])
    assert header['weight']['shape'] == [1, 4] and header['bias']['shape'] == [1]
    assert len(data) == 8 + n + 5 * 4


def test_05_lineage(mounted):
    run_example(mounted, '05-lineage/lineage.sh')
    up = mounted.modelctl('lineage', 'ex05-intent-small@1.0.0', '--format', 'json',
                          as_json=True).json
    assert [(a['depth'], a['ref'], a['resolved']) for a in up['ancestors']] == [
        (1, 'ex05-intent@1.1.0', True), (2, 'ex05-intent@1.0.0', True),
        (3, 'ex05-encoder@1.0.0', True), (4, 'hf-bert-base-uncased@1.0.0', False)]
    g = mounted.modelctl('lineage', 'ex05-encoder@1.0.0', '--descendants', '--format', 'json',
                         as_json=True).json
    assert sorted(map(tuple, g['edges'])) == [
        ('ex05-encoder@1.0.0', 'ex05-intent@1.0.0'),
        ('ex05-intent@1.0.0', 'ex05-intent@1.1.0'),
        ('ex05-intent@1.1.0', 'ex05-intent-small@1.0.0'),
        ('hf-bert-base-uncased@1.0.0', 'ex05-encoder@1.0.0')]
    assert {n['ref']: n['resolved'] for n in g['nodes']}['hf-bert-base-uncased@1.0.0'] is False
    lin = util.read_json(pjoin(mounted.models, 'ex05-intent', 'versions', '1.0.0', 'lineage.json'))
    assert lin['children'] == ['ex05-intent@1.1.0']
    assert lin['dataset_snapshot_id'] == 'intents-v1'


def test_06_promotion(mounted, users):
    util.open_path(mounted.mnt)
    run_example(mounted, '06-promotion/promotion.sh')
    m = 'ex06-fraud'
    assert link(mounted, m, 'production') == 'versions/1.2.0'
    assert link(mounted, m, 'staging') == 'versions/1.2.0'
    (move,) = history(mounted, m, 'production')
    assert (move['to'], move['user'], sorted(move['approvals'])) == (
        '1.2.0', 'mfs_carol', ['mfs_bob', 'mfs_carol'])
    assert [r['to'] for r in history(mounted, m, 'staging')] == ['1.1.0', '1.2.0']
    denied = [(r['event'], r['user'], r['errno']) for r in audit(mounted, m)
              if r['result'] == 'denied']
    assert denied == [('alias.create', 'mfs_alice', 'EPERM'),      # no model card
                      ('alias.create', 'mfs_carol', 'EPERM'),      # AUC 0.88
                      ('alias.create', 'mfs_alice', 'EACCES'),     # not mfs_ops
                      ('alias.create', 'mfs_carol', 'EPERM'),      # no approvals yet
                      ('version.approve', 'mfs_alice', 'EPERM'),   # her own version
                      ('version.approve', 'mfs_dave', 'EACCES')]   # not an approver
    assert sorted(a['user'] for a in registry(mounted, m, '1.2.0')['approvals']) == [
        'mfs_bob', 'mfs_carol']


def test_07_rollback(mounted):
    run_example(mounted, '07-rollback/rollback.sh')
    m = 'ex07-ranker'
    moves = history(mounted, m, 'production')
    assert [(r['to'], r['rollback']) for r in moves] == [
        ('1.0.0', False), ('1.1.0', False), ('1.2.0', False), ('1.1.0', True),
        ('1.0.0', True), ('1.3.0', False)]
    assert link(mounted, m, 'production') == 'versions/1.3.0'
    mdir = pjoin(mounted.models, m)
    for rec in moves:
        view = pjoin(mdir, '@h%d' % rec['seq'])
        assert os.readlink(pjoin(view, 'production')) == '../versions/' + rec['to']
        assert util.read_file(pjoin(view, 'production', 'model.txt')) == \
            ('ranker %s\n' % rec['to']).encode()
    assert os.listdir(pjoin(mdir, '@h0')) == []


def test_08_governance(mounted, users):
    util.open_path(mounted.mnt)
    run_example(mounted, '08-governance/governance.sh')
    m = 'ex08-credit'
    mdir = pjoin(mounted.models, m)
    st = os.stat(mdir)
    assert (stat.S_IMODE(st.st_mode), st.st_uid, st.st_gid) == (
        0o750, users['mfs_alice'].uid, users['mfs_alice'].groups[0])
    assert sorted(os.listdir(pjoin(mdir, 'versions'))) == ['1.1.0', '1.3.0', '1.4.0']
    util.expect_errno(errno.EEXIST, os.mkdir, pjoin(mdir, 'versions', '1.2.0'))
    dels = [r for r in audit(mounted, m) if r['event'] == 'version.delete']
    assert sorted(r['version'] for r in dels) == ['1.0.0', '1.2.0']
    res = util.run_as(users['mfs_dave'], ['ls', mdir])
    assert res.returncode != 0 and b'Permission denied' in res.stderr
    assert mounted.modelctl('audit', 'verify', check=False).returncode == 0


def test_09_diff(mounted):
    run_example(mounted, '09-diff/diff.sh')
    res = mounted.modelctl('diff', 'ex09-churn', '1.0.0', '1.1.0', as_json=True, check=False)
    assert res.returncode == 1
    d = json.loads(res.stdout)
    assert d['hyperparameters']['changed'] == {'learning_rate': {'from': 0.1, 'to': 0.05},
                                               'n_estimators': {'from': 100, 'to': 200}}
    assert d['files']['added'] == ['calibration.json']
    assert [f['path'] for f in d['files']['changed']] == ['weights.npy']
    assert mounted.modelctl('diff', 'ex09-churn', '1.1.0', '1.1.1', check=False).returncode == 0
    digests = [{f['path']: f['digest'] for f in registry(mounted, 'ex09-churn', v)['files']}
               for v in ('1.1.0', '1.1.1')]
    assert digests[0] == digests[1]


def test_10_champion_challenger(mounted):
    run_example(mounted, '10-champion-challenger/champion.py')
    m = 'ex10-spam'
    assert link(mounted, m, 'champion') == 'versions/1.2.0'
    assert link(mounted, m, 'challenger') == 'versions/1.0.0'
    assert [(r['alias'], r['to']) for r in history(mounted, m, 'champion')] == [
        ('champion', '1.0.0'), ('champion', '1.2.0')]
    scores = {v: float(registry(mounted, m, v)['tags']['holdout_accuracy'])
              for v in ('1.0.0', '1.1.0', '1.2.0')}
    assert scores['1.2.0'] > scores['1.0.0'] > scores['1.1.0']


@pytest.mark.mount_options('hook=' + HOOK)
def test_11_cicd_pipeline(mounted, users, notify_outbox):
    util.open_path(mounted.mnt)
    run_example(mounted, '11-cicd/pipeline.sh')
    m = 'ex11-churn'
    assert link(mounted, m, 'production') == 'versions/1.0.0'
    moves = history(mounted, m, 'production')
    assert [(r['to'], r['approvals'], r['rollback']) for r in moves] == [
        ('1.0.0', ['mfs_bob'], False), ('1.1.0', ['mfs_bob'], False), ('1.0.0', [], True)]
    reg = registry(mounted, m, '1.1.0')
    assert {f['path']: f['format'] for f in reg['files']} == {
        'model.joblib': 'joblib', 'MODEL_CARD.md': 'text'}
    # The hook announced each production move with its audit record.
    recs = {r['hash']: r for r in audit(mounted, m)}
    sent = [json.loads(line) for line in open(notify_outbox)]
    assert [(r['event'], r['to']) for r in sent] == [
        ('alias.create', '1.0.0'), ('alias.move', '1.1.0'), ('alias.move', '1.0.0')]
    assert all(recs[r['hash']] == r for r in sent)


def test_12_ensemble(mounted):
    run_example(mounted, '12-ensemble/ensemble.py')
    assert link(mounted, 'ex12-ensemble', 'production') == 'versions/1.0.0'
    assert link(mounted, 'ex12-trees', 'production') == 'versions/1.1.0'
    meta = util.read_json(pjoin(mounted.models, 'ex12-ensemble', 'versions', '1.0.0',
                                'metadata.json'))
    assert meta['depends_on'] == ['ex12-trees@1.0.0', 'ex12-linear@2.1.0']
    denied = [r for r in audit(mounted, 'ex12-ensemble') if r['result'] == 'denied']
    assert [(r['alias'], r['errno']) for r in denied] == [('production', 'EPERM')]


def test_13_shadow_canary(mounted):
    out = run_example(mounted, '13-shadow-canary/canary.py')
    m = 'ex13-pricing'
    assert link(mounted, m, 'production') == 'versions/1.1.0'
    assert link(mounted, m, 'shadow') == 'versions/1.2.0'
    assert not os.path.lexists(pjoin(mounted.models, m, 'canary'))
    assert [(r['alias'], r['from'], r['to']) for r in history(mounted, m)][-2:] == [
        ('production', '1.0.0', '1.1.0'), ('canary', '1.1.0', None)]
    assert "answered by: {'1.1.0': 100}" in out


def test_14_retirement(mounted):
    run_example(mounted, '14-retirement/retirement.sh')
    m = 'ex14-llm'
    mdir = pjoin(mounted.models, m)
    assert os.listdir(pjoin(mdir, 'versions')) == ['2.0.0']
    assert link(mounted, m, 'production') == 'versions/2.0.0'
    for v in ('1.0.0', '1.1.0', '1.2.0'):
        util.expect_errno(errno.EEXIST, os.mkdir, pjoin(mdir, 'versions', v))
    # Every blob of 2.0.0 is in the store; the registry knows no other of m.
    for f in registry(mounted, m, '2.0.0')['files']:
        assert os.path.isfile(pjoin(mounted.store, 'blobs', f['digest'][:2], f['digest']))
    gcs = [r for r in audit(mounted) if r['event'] == 'store.gc']
    assert len(gcs) == 2


def test_15_serving(mounted):
    run_example(mounted, '15-serving/poller.py')
    m = 'ex15-churn'
    repo = mounted.path('serving', 'production', m)
    moves = history(mounted, m, 'production')
    assert [r['to'] for r in moves] == ['1.0.0', '1.1.0', '1.0.0']
    assert sorted(os.listdir(repo)) == [str(moves[-1]['seq']), 'config.pbtxt']
    assert os.readlink(pjoin(repo, str(moves[-1]['seq']))) == \
        '../../../models/%s/versions/1.0.0' % m
    assert util.read_file(pjoin(repo, 'config.pbtxt')).startswith(b'name: "ex15-churn"  # 1.0.0')
