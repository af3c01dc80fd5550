#!/usr/bin/env python3
# test_mlflow.py - modelctl import mlflow: an MLflow FileStore's registry
#
# MLflow itself is not installable here: the stores below are written the
# way MLflow's file stores write them (mlflow/store/model_registry/
# file_store.py, tracking/file_store.py): meta.yaml files with
# yaml.safe_dump, tags/params as one file per key, metrics as lines
# "timestamp value step", deleted versions kept as "Deleted_Internal".

import json
import os
import pickle
from os.path import join as pjoin

import pytest
import yaml

import util

T0 = 1700000000000    # ms, as MLflow stores times


def write_yaml(path, data):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, 'w') as fh:
        yaml.safe_dump(data, fh, default_flow_style=False, allow_unicode=True)


def write(path, data):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, 'wb' if isinstance(data, bytes) else 'w') as fh:
        fh.write(data)


class FileStore:
    '''An MLflow file store under root, built as MLflow writes one.'''

    def __init__(self, root):
        self.root = root
        os.makedirs(pjoin(root, 'models'), exist_ok=True)
        self.experiment('0', 'Default')

    def experiment(self, eid, name):
        write_yaml(pjoin(self.root, eid, 'meta.yaml'), {
            'artifact_location': 'file://' + pjoin(self.root, eid),
            'creation_time': T0, 'experiment_id': eid, 'last_update_time': T0,
            'lifecycle_stage': 'active', 'name': name})

    def run(self, eid, run_id, params=None, metrics=None, files=None, user='alice',
            flavors=('python_function', 'sklearn')):
        d = pjoin(self.root, eid, run_id)
        write_yaml(pjoin(d, 'meta.yaml'), {
            'artifact_uri': 'file://' + pjoin(d, 'artifacts'), 'end_time': T0 + 5000,
            'entry_point_name': '', 'experiment_id': eid, 'lifecycle_stage': 'active',
            'run_id': run_id, 'run_name': 'run-' + run_id[:4], 'run_uuid': run_id,
            'source_name': '', 'source_type': 4, 'source_version': '',
            'start_time': T0, 'status': 3, 'tags': [], 'user_id': user})
        for k, v in (params or {}).items():
            write(pjoin(d, 'params', k), v)
        for k, points in (metrics or {}).items():
            write(pjoin(d, 'metrics', k),
                  ''.join('%d %r %d\n' % p for p in points))
        write(pjoin(d, 'tags', 'mlflow.runName'), 'run-' + run_id[:4])
        self.model_dir(pjoin(d, 'artifacts', 'model'), run_id, files, flavors)
        return d

    @staticmethod
    def model_dir(d, tag, files=None, flavors=('python_function', 'sklearn')):
        write_yaml(pjoin(d, 'MLmodel'), {
            'artifact_path': 'model',
            'flavors': {f: {'loader_module': 'mlflow.' + f} for f in flavors},
            'mlflow_version': '2.9.2', 'run_id': tag})
        for rel, data in (files or {'model.pkl': pickle.dumps({'weights': tag}),
                                    'requirements.txt': 'scikit-learn==1.2.1\n'}).items():
            write(pjoin(d, rel), data)

    def registered(self, name, description=None, tags=None, aliases=None):
        d = pjoin(self.root, 'models', name)
        write_yaml(pjoin(d, 'meta.yaml'), {
            'creation_timestamp': T0, 'description': description,
            'last_updated_timestamp': T0 + 1, 'name': name})
        for k, v in (tags or {}).items():
            write(pjoin(d, 'tags', k), v)
        for a, n in (aliases or {}).items():
            write(pjoin(d, 'aliases', a), str(n))

    def version(self, name, n, source, stage='None', run_id=None, tags=None,
                description=None, storage_location=None):
        meta = {'creation_timestamp': T0 + n * 1000, 'current_stage': stage,
                'description': description, 'last_updated_timestamp': T0 + n * 1000,
                'name': name, 'run_id': run_id, 'run_link': '', 'source': source,
                'status': 'READY', 'status_message': None, 'user_id': 'bob',
                'version': n, 'aliases': []}
        if storage_location:
            meta['storage_location'] = storage_location
        d = pjoin(self.root, 'models', name, 'version-%d' % n)
        write_yaml(pjoin(d, 'meta.yaml'), meta)
        for k, v in (tags or {}).items():
            write(pjoin(d, 'tags', k), v)


@pytest.fixture()
def mlruns(tmp_path):
    '''churn: 5 versions (1 Archived, 2 and 3 Production, 4 deleted, 5
    Staging, from an MLflow 3 logged model), aliases champion -> 3,
    challenger -> 5; fraud: 1 Archived but aliased; broken: a missing
    artifact.'''
    fs = FileStore(str(tmp_path / 'mlruns'))
    fs.experiment('1', 'churn-exp')
    for i in range(1, 6):
        fs.run('1', 'r%d' % i + '0' * 30,
               params={'lr': '0.%d' % i, 'penalty': 'l2', 'n_estimators': '100'},
               metrics={'auc': [(T0, 0.5, 0), (T0 + 20, 0.7 + i / 100, 2),
                                (T0 + 10, 0.1, 1)],
                        'loss': [(T0, 1.0 / i, 0)]})
    root = fs.root
    fs.registered('churn', description='Churn: who leaves, and when.\nSecond line.',
                  tags={'team': 'growth', 'task/kind': 'binary'},
                  aliases={'champion': 3, 'challenger': 5})
    fs.version('churn', 1, 'runs:/r1' + '0' * 30 + '/model', stage='Archived',
               run_id='r1' + '0' * 30)
    fs.version('churn', 2, 'file://' + pjoin(root, '1', 'r2' + '0' * 30, 'artifacts', 'model'),
               stage='Production', run_id='r2' + '0' * 30)
    fs.version('churn', 3, 'mlflow-artifacts:/1/r3' + '0' * 30 + '/artifacts/model',
               stage='Production', run_id='r3' + '0' * 30, tags={'validated': 'yes'},
               description='the good one')
    fs.version('churn', 4, 'runs:/r4' + '0' * 30 + '/model', stage='Deleted_Internal',
               run_id='r4' + '0' * 30)
    # MLflow 3: a logged model, its version's source models:/m-<id>
    fs.model_dir(pjoin(root, '1', 'models', 'm-abc123', 'artifacts'), 'm5',
                 flavors=('python_function', 'pytorch'))
    fs.version('churn', 5, 'models:/m-abc123', stage='Staging', run_id='r5' + '0' * 30)
    fs.registered('fraud', aliases={'pinned': 1})
    fs.run('1', 'f1' + '0' * 30, params={'depth': '6'}, metrics={'auc': [(T0, 0.9, 0)]})
    fs.version('fraud', 1, 'runs:/f1' + '0' * 30 + '/model', stage='Archived',
               run_id='f1' + '0' * 30)
    fs.registered('broken')
    fs.version('broken', 1, 'runs:/nosuchrun/model')
    return fs


def meta(mounted, model, version):
    return util.read_json(pjoin(mounted.models, model, 'versions', version, 'metadata.json'))


def test_import_a_file_store(mounted, mlruns):
    res = mounted.modelctl('import', 'mlflow', mlruns.root, mnt=mounted.mnt, check=False)
    out = util._s(res.stdout) + util._s(res.stderr)
    assert res.returncode == 1, out     # broken was not imported
    assert "model 'broken' not imported: version 1: its artifacts are not here (source 'runs:/nosuchrun/model')" in out
    assert not os.path.exists(pjoin(mounted.models, 'broken'))
    assert 'version 4: deleted in MLflow' in out
    assert 'version 2 is in stage Production too' in out
    assert "version 1 is Archived in MLflow but an alias names it" in out

    churn = pjoin(mounted.models, 'churn')
    assert sorted(os.listdir(pjoin(churn, 'versions'))) == ['1.0.0', '2.0.0', '3.0.0', '5.0.0']
    for v in ('1.0.0', '2.0.0', '3.0.0', '5.0.0'):
        assert util.is_sealed(pjoin(churn, 'versions', v))
    links = {a: os.readlink(pjoin(churn, a)) for a in ('champion', 'challenger',
                                                        'production', 'staging')}
    assert links == {'champion': 'versions/3.0.0', 'challenger': 'versions/5.0.0',
                     'production': 'versions/3.0.0', 'staging': 'versions/5.0.0'}
    assert meta(mounted, 'churn', '1.0.0')['registry']['lifecycle'] == 'archived'
    assert meta(mounted, 'churn', '2.0.0')['registry']['lifecycle'] == 'active'
    assert meta(mounted, 'fraud', '1.0.0')['registry']['lifecycle'] == 'active'
    assert os.readlink(pjoin(mounted.models, 'fraud', 'pinned')) == 'versions/1.0.0'

    m3 = meta(mounted, 'churn', '3.0.0')
    assert m3['run_id'] == 'r3' + '0' * 30
    assert m3['experiment'] == 'churn-exp'
    assert m3['description'] == 'the good one'
    assert m3['hyperparameters'] == {'lr': 0.3, 'penalty': 'l2', 'n_estimators': 100}
    # the value at the highest step, not the last line
    assert m3['metrics'] == {'auc': pytest.approx(0.73), 'loss': pytest.approx(1 / 3)}
    assert m3['tags'] == {'validated': 'yes'}
    assert m3['mlflow']['version'] == 3
    assert m3['mlflow']['stage'] == 'Production'
    assert m3['mlflow']['user'] == 'bob'
    assert m3['mlflow']['created'] == '2023-11-14T22:13:23.000Z'
    assert sorted(m3['mlflow']['flavors']) == ['python_function', 'sklearn']
    assert meta(mounted, 'churn', '5.0.0')['mlflow']['flavors'] == ['python_function', 'pytorch']
    # the files, byte for byte, MLmodel too
    src = pjoin(mlruns.root, '1', 'r3' + '0' * 30, 'artifacts', 'model')
    for f in ('MLmodel', 'model.pkl', 'requirements.txt'):
        assert util.read_file(pjoin(churn, 'versions', '3.0.0', f)) == \
            util.read_file(pjoin(src, f))
    assert pickle.loads(util.read_file(pjoin(churn, 'production', 'model.pkl'))) == \
        {'weights': 'r3' + '0' * 30}
    # the model's own description and tags
    mm = util.read_json(pjoin(churn, 'metadata.json'))
    assert mm['description'] == 'Churn: who leaves, and when.\nSecond line.'
    assert mm['tags'] == {'team': 'growth', 'task/kind': 'binary'}
    # history: one move per alias
    hist = [json.loads(line) for line in open(pjoin(churn, 'history.jsonl'))]
    assert sorted(h['alias'] for h in hist) == ['challenger', 'champion', 'production', 'staging']

    # A second run imports nothing and says so.
    res = mounted.modelctl('import', 'mlflow', mlruns.root, '--model', 'churn',
                           '--model', 'fraud', mnt=mounted.mnt)
    err = util._s(res.stderr)
    assert "model 'churn': nothing to import (4 versions there already)" in err
    assert "model 'fraud': nothing to import" in err
    assert util._s(res.stdout).splitlines()[-1] == '0 versions imported from 2 models'
    assert len([json.loads(line) for line in open(pjoin(churn, 'history.jsonl'))]) == len(hist)


def test_dry_run_writes_nothing(mounted, mlruns):
    res = mounted.modelctl('import', 'mlflow', mlruns.root, '--model', 'churn', '--dry-run',
                           mnt=mounted.mnt)
    out = util._s(res.stdout)
    assert 'would import churn@3.0.0 (MLflow version 3)' in out
    assert 'would set churn/production -> 3.0.0' in out
    assert 'would archive churn@1.0.0' in out
    assert os.listdir(mounted.models) == []
    res = mounted.modelctl('import', 'mlflow', mlruns.root, '--model', 'churn', '--dry-run',
                           mnt=mounted.mnt, as_json=True)
    plan = res.json[0]
    assert plan['aliases'] == {'champion': '3.0.0', 'challenger': '5.0.0',
                               'production': '3.0.0', 'staging': '5.0.0'}
    assert [v['version'] for v in plan['versions']] == ['1.0.0', '2.0.0', '3.0.0', '5.0.0']


def test_semver_tag(mounted, mlruns):
    mlruns.registered('tagged')
    mlruns.version('tagged', 1, 'runs:/r1' + '0' * 30 + '/model', tags={'semver': '0.9.1'})
    mlruns.version('tagged', 2, 'runs:/r2' + '0' * 30 + '/model')
    mounted.modelctl('import', 'mlflow', mlruns.root, '--model', 'tagged',
                     '--semver-tag', 'semver', mnt=mounted.mnt)
    assert sorted(os.listdir(pjoin(mounted.models, 'tagged', 'versions'))) == ['0.9.1', '2.0.0']
    mlruns.registered('badtag')
    mlruns.version('badtag', 1, 'runs:/r1' + '0' * 30 + '/model', tags={'semver': 'v1'})
    res = mounted.modelctl('import', 'mlflow', mlruns.root, '--model', 'badtag',
                           '--semver-tag', 'semver', mnt=mounted.mnt, check=False)
    assert res.returncode == 1
    assert "its tag semver 'v1' is not a SemVer version" in util._s(res.stderr)
    assert not os.path.exists(pjoin(mounted.models, 'badtag'))


def test_a_model_the_rules_refuse_is_left_alone(mounted, mlruns):
    # production needs an AUC no version of churn has; fraud has no such rule
    util.write_file(mounted.path('policy.json'), json.dumps(
        {'aliases': {'production': {'gates': {'metrics.auc': '>= 0.99'}}}}).encode())
    res = mounted.modelctl('import', 'mlflow', mlruns.root, '--model', 'churn',
                           '--model', 'fraud', mnt=mounted.mnt, check=False)
    err = util._s(res.stderr)
    assert res.returncode == 1
    assert "model 'churn' not imported: alias 'production' -> 3.0.0: gate 'metrics.auc' >= 0.99" in err
    assert not os.path.exists(pjoin(mounted.models, 'churn'))
    assert os.listdir(pjoin(mounted.models, 'fraud', 'versions')) == ['1.0.0']

    # approvals: a just-imported version has none
    util.write_file(mounted.path('policy.json'), json.dumps(
        {'aliases': {'champion': {'approvals': 1}}}).encode())
    res = mounted.modelctl('import', 'mlflow', mlruns.root, '--model', 'churn',
                           mnt=mounted.mnt, check=False)
    assert "alias 'champion' -> 3.0.0: it needs 1 approvals" in util._s(res.stderr)
    assert not os.path.exists(pjoin(mounted.models, 'churn'))

    # semver.monotonic: a model that already has 9.0.0
    util.write_file(mounted.path('policy.json'), b'{"semver": {"monotonic": true}}')
    mounted.version('churn', '9.0.0', {'w': b'x'}, sealed=True)
    res = mounted.modelctl('import', 'mlflow', mlruns.root, '--model', 'churn',
                           mnt=mounted.mnt, check=False)
    assert 'semver.monotonic: 1.0.0 is not above 9.0.0' in util._s(res.stderr)
    assert os.listdir(pjoin(mounted.models, 'churn', 'versions')) == ['9.0.0']


def test_a_user_without_write_access_imports_nothing(mounted, mlruns, users, tmp_path):
    util.open_path(mounted.mnt)
    mounted.version('churn', '0.1.0', {'w': b'x'}, sealed=True)
    os.chmod(pjoin(mounted.models, 'churn'), 0o755)
    # dave reads a store of his own
    theirs = tmp_path / 'dave'
    theirs.mkdir()
    os.chmod(str(theirs), 0o755)
    util.run(['cp', '-r', mlruns.root, str(theirs)])
    util.run(['chown', '-R', 'mfs_dave', str(theirs)])
    util.open_path(str(theirs))
    share = tmp_path / 'bin'
    share.mkdir()
    os.chmod(str(share), 0o755)
    util.run(['install', '-m', '0755', util.MODELCTL, str(share / 'modelctl')])
    res = util.run_as(users['mfs_dave'], [str(share / 'modelctl'), '-m', mounted.mnt, 'import',
                                          'mlflow', str(theirs / 'mlruns'), '--model', 'churn'])
    assert res.returncode == 1
    assert b"model 'churn' not imported: no write access to its versions/" in res.stderr
    assert os.listdir(pjoin(mounted.models, 'churn', 'versions')) == ['0.1.0']


def test_bad_input(mounted, tmp_path, mlruns):
    res = mounted.modelctl('import', 'mlflow', str(tmp_path / 'nothing'), mnt=mounted.mnt,
                           check=False)
    assert res.returncode == 1 and b'nothing' in res.stderr
    res = mounted.modelctl('import', 'mlflow', mlruns.root, '--model', 'nosuch',
                           mnt=mounted.mnt, check=False)
    assert res.returncode == 1
    assert b"no registered model 'nosuch'" in res.stderr
    res = mounted.modelctl('import', 'mlflow', mnt=mounted.mnt, check=False)
    assert res.returncode == 2
    # a meta.yaml that is not YAML
    write(pjoin(mlruns.root, 'models', 'bad', 'meta.yaml'), 'name: [unclosed\n')
    res = mounted.modelctl('import', 'mlflow', mlruns.root, '--model', 'bad',
                           mnt=mounted.mnt, check=False)
    assert res.returncode == 1
    assert b"model 'bad' not imported:" in res.stderr and b'line' in res.stderr
    # a version whose semver would repeat another's
    mlruns.registered('dup')
    mlruns.version('dup', 1, 'runs:/r1' + '0' * 30 + '/model', tags={'s': '1.0.0'})
    mlruns.version('dup', 2, 'runs:/r2' + '0' * 30 + '/model', tags={'s': '1.0.0'})
    res = mounted.modelctl('import', 'mlflow', mlruns.root, '--model', 'dup',
                           '--semver-tag', 's', mnt=mounted.mnt, check=False)
    assert b'versions 1 and 2 would both be 1.0.0' in res.stderr
    assert not os.path.exists(pjoin(mounted.models, 'dup'))
    # a source that names a path outside through a relative name
    mlruns.registered('escape')
    mlruns.version('escape', 1, 'mlflow-artifacts:/../../etc')
    res = mounted.modelctl('import', 'mlflow', mlruns.root, '--model', 'escape',
                           mnt=mounted.mnt, check=False)
    assert b'its artifacts are not here' in res.stderr


def test_a_moved_store_is_found_again(mounted, mlruns, tmp_path):
    '''file:// sources name where mlruns was when MLflow wrote them.'''
    moved = str(tmp_path / 'elsewhere' / 'mlruns')
    os.makedirs(os.path.dirname(moved))
    os.rename(mlruns.root, moved)
    mounted.modelctl('import', 'mlflow', moved, '--model', 'churn', mnt=mounted.mnt)
    assert util.read_file(pjoin(mounted.models, 'churn', 'versions', '2.0.0', 'model.pkl')) == \
        util.read_file(pjoin(moved, '1', 'r2' + '0' * 30, 'artifacts', 'model', 'model.pkl'))


def test_a_hostile_store_reads_nothing_outside(mounted, mlruns, tmp_path):
    secret = tmp_path / 'secret'
    secret.mkdir()
    (secret / 'id_rsa').write_text('PRIVATE KEY\n')
    # an absolute source outside MLRUNS
    mlruns.registered('abs')
    mlruns.version('abs', 1, str(secret))
    res = mounted.modelctl('import', 'mlflow', mlruns.root, '--model', 'abs', mnt=mounted.mnt,
                           check=False)
    assert res.returncode == 1
    assert b'are outside the MLflow store: give --artifacts DIR' in res.stderr
    assert not os.path.exists(pjoin(mounted.models, 'abs'))
    # a symlink inside MLRUNS that leads out
    os.symlink(str(secret), pjoin(mlruns.root, '1', 'link'))
    mlruns.registered('viasym')
    mlruns.version('viasym', 1, 'mlflow-artifacts:/1/link')
    res = mounted.modelctl('import', 'mlflow', mlruns.root, '--model', 'viasym',
                           mnt=mounted.mnt, check=False)
    assert b'are outside the MLflow store' in res.stderr
    assert not os.path.exists(pjoin(mounted.models, 'viasym'))
    # tags that are a symlink to elsewhere: not read
    mlruns.registered('tagsym')
    mlruns.version('tagsym', 1, 'runs:/r1' + '0' * 30 + '/model')
    os.symlink(str(secret), pjoin(mlruns.root, 'models', 'tagsym', 'version-1', 'tags'))
    mounted.modelctl('import', 'mlflow', mlruns.root, '--model', 'tagsym', mnt=mounted.mnt)
    assert 'tags' not in meta(mounted, 'tagsym', '1.0.0')
    # --artifacts DIR allows a root outside MLRUNS
    mounted.modelctl('import', 'mlflow', mlruns.root, '--model', 'abs',
                     '--artifacts', str(tmp_path), mnt=mounted.mnt)
    assert os.listdir(pjoin(mounted.models, 'abs', 'versions', '1.0.0')) != []


def test_yaml_anchors_and_their_limits(mounted, mlruns):
    # anchors, a redefined key, an anchored key: read as YAML says
    write(pjoin(mlruns.root, 'models', 'anch', 'meta.yaml'),
          'name: anch\ndescription: &d first\nx: &x [1, 2]\nx: 3\n&k key: 1\n'
          'y: *x\nz: *k\n')
    mlruns.version('anch', 1, 'runs:/r1' + '0' * 30 + '/model')
    mounted.modelctl('import', 'mlflow', mlruns.root, '--model', 'anch', mnt=mounted.mnt)
    assert util.read_json(pjoin(mounted.models, 'anch', 'metadata.json')) == {'description': 'first'}
    assert os.listdir(pjoin(mounted.models, 'anch', 'versions')) == ['1.0.0']
    # "billion laughs": refused, not expanded
    lines = ['name: lol', 'a0: &a0 [x, x, x, x, x, x, x, x, x, x]']
    for i in range(1, 9):
        lines.append('a%d: &a%d [%s]' % (i, i, ', '.join(['*a%d' % (i - 1)] * 10)))
    write(pjoin(mlruns.root, 'models', 'lol', 'meta.yaml'), '\n'.join(lines) + '\n')
    res = mounted.modelctl('import', 'mlflow', mlruns.root, '--model', 'lol', mnt=mounted.mnt,
                           check=False)
    assert res.returncode == 1
    assert b'aliases expand beyond' in res.stderr
    # a bad escape in a file URI
    mlruns.registered('esc')
    mlruns.version('esc', 1, 'file:///nonexistent%2')
    res = mounted.modelctl('import', 'mlflow', mlruns.root, '--model', 'esc', mnt=mounted.mnt,
                           check=False)
    assert b'its artifacts are not here' in res.stderr


def test_a_single_file_source_imports_once(mounted, mlruns):
    mlruns.registered('single')
    mlruns.version('single', 1, 'runs:/r1' + '0' * 30 + '/model/model.pkl')
    mounted.modelctl('import', 'mlflow', mlruns.root, '--model', 'single', mnt=mounted.mnt)
    assert sorted(os.listdir(pjoin(mounted.models, 'single', 'versions', '1.0.0'))) == \
        ['lineage.json', 'metadata.json', 'model.pkl']
    res = mounted.modelctl('import', 'mlflow', mlruns.root, '--model', 'single', mnt=mounted.mnt)
    assert b"model 'single': nothing to import" in res.stderr


def test_a_sha256_gate_waits_for_the_digests(mounted, mlruns):
    util.write_file(mounted.path('policy.json'), json.dumps(
        {'aliases': {'champion': {'gates': {'sha256': True}}}}).encode())
    mounted.modelctl('import', 'mlflow', mlruns.root, '--model', 'churn', mnt=mounted.mnt)
    assert os.readlink(pjoin(mounted.models, 'churn', 'champion')) == 'versions/3.0.0'
