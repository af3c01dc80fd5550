#!/usr/bin/env python3
# test_governance.py - policy.json, gates, approvals, protected aliases,
# lifecycle and tags, semver rules, naming rules (issue 7), through the
# mount with real users (conftest's `users`: mfs_alice in mfs_ml, mfs_bob in
# mfs_ml and mfs_ops, mfs_carol in mfs_ops, mfs_dave in none).

import errno
import json
import os
import stat
import subprocess
from os.path import join as pjoin

import pytest

import util

PY = '/usr/bin/python3'


def attempt(user, stmt, cwd):
    '''Run one Python statement (os is imported) as *user* in *cwd*;
    returns 'ok' or the errno name it raised.'''
    code = ('import errno, os, sys\n'
            'try:\n    %s\nexcept OSError as e:\n'
            '    print(errno.errorcode[e.errno]); sys.exit(0)\n'
            'print("ok")\n' % stmt)
    res = util.run_as(user, [PY, '-c', code], cwd=cwd)
    assert res.returncode == 0, res.stderr
    return res.stdout.decode().strip()


def as_root(stmt):
    try:
        stmt()
        return 'ok'
    except OSError as e:
        return errno.errorcode[e.errno]


def write_policy(path, doc):
    util.write_file(path, json.dumps(doc).encode())


def audit(mounted):
    with open(pjoin(mounted.mnt, 'audit.jsonl')) as fh:
        return [json.loads(line) for line in fh]


def history(mdir):
    with open(pjoin(mdir, 'history.jsonl')) as fh:
        return [json.loads(line) for line in fh]


def registry_of(mdir, version):
    return util.read_json(pjoin(mdir, 'versions', version, 'metadata.json'))['registry']


@pytest.fixture()
def gov(mounted, users):
    '''A model "churn" owned by alice (mode 0755: others cannot write it)
    with sealed versions 1.0.0 and 1.1.0 (1.1.0 has metrics, a model card
    and an ONNX file), and a policy of the issue's shape.'''
    util.open_path(mounted.mnt)
    alice = users['mfs_alice']
    mdir = pjoin(mounted.models, 'churn')
    assert attempt(alice, "os.mkdir('churn', 0o755)", mounted.models) == 'ok'
    for v, meta, files in (
            ('1.0.0', {'dataset_snapshot_id': 'ds1', 'metrics': {'auc': 0.85}},
             {'model.bin': b'one'}),
            ('1.1.0', {'dataset_snapshot_id': 'ds2', 'metrics': {'auc': 0.93}},
             {'model.onnx': b'\x08\x07\x12\x07pytorch' + b'\0' * 64,
              'README.md': b'# churn\n'})):
        vdir = pjoin(mdir, 'versions', v)
        stmt = ("os.mkdir(%r)\n    " % vdir +
                ''.join("open(%r, 'wb').write(%r)\n    " % (pjoin(vdir, f), d)
                        for f, d in files.items()) +
                "open(%r, 'w').write(%r)\n    " % (pjoin(vdir, 'metadata.json'),
                                                   json.dumps(meta)) +
                "os.setxattr(%r, 'user.modelfs.seal', b'1')" % vdir)
        assert attempt(alice, stmt, mounted.models) == 'ok'
    policy = {
        'semver': {'monotonic': True, 'major_on_breaking_change': True},
        'aliases': {
            'staging': {'groups': ['mfs_ml'],
                        'gates': {'required_keys': ['dataset_snapshot_id']}},
            'production': {'groups': ['mfs_ops'], 'approvals': 2,
                           'gates': {'metrics.auc': '>= 0.90', 'from_alias': 'staging',
                                     'required_files': ['README.md'], 'format': 'onnx'},
                           'on_replace': 'deprecated'},
        },
    }
    assert attempt(alice, "open('churn/policy.json', 'w').write(%r)" % json.dumps(policy),
                   mounted.models) == 'ok'
    return mdir


def test_policy_reads_back_and_bad_policies_are_refused(mounted, gov, users):
    doc = util.read_json(pjoin(gov, 'policy.json'))
    assert doc['aliases']['production']['approvals'] == 2
    before = util.read_file(pjoin(gov, 'policy.json'))
    bad = [
        ({'aliases': {'production': {'approvals': 'two'}}}, 'aliases.production.approvals'),
        ({'aliases': {'production': {'gates': {'metrics.auc': 'at least 0.9'}}}},
         'aliases.production.gates.metrics.auc'),
        ({'aliases': {'production': {'gates': {'format': 'onyx'}}}},
         'aliases.production.gates.format'),
        ({'retention': {'keep_last': 0}}, 'retention.keep_last'),
        ({'semver': {'monotonous': True}}, 'semver.monotonous'),
        ({'naming': {'models': '^[a-z]+$'}}, 'naming'),
        ({'aliases': {'production': {'on_replace': 'delete'}}},
         'aliases.production.on_replace'),
        ({'aliases': {'production': {'users': 'alice'}}}, 'aliases.production.users'),
    ]
    alice = users['mfs_alice']
    for doc, field in bad:
        mark = mounted.log_mark()
        res = attempt(alice, "f = open('policy.json', 'w'); f.write(%r); f.close()"
                      % json.dumps(doc), gov)
        assert res == 'EINVAL', doc
        assert field in mounted.log_since(mark), (field, mounted.log_since(mark))
        assert util.read_file(pjoin(gov, 'policy.json')) == before


def test_policy_is_written_by_the_owner_and_admins_only(mounted, gov, users):
    before = util.read_file(pjoin(gov, 'policy.json'))
    for name in ('mfs_bob', 'mfs_dave'):
        assert attempt(users[name], "open('policy.json', 'w')", gov) == 'EACCES'
    assert util.read_file(pjoin(gov, 'policy.json')) == before
    # root is an admin
    write_policy(pjoin(gov, 'policy.json'), {'retention': {'keep_last': 3}})
    assert util.read_json(pjoin(gov, 'policy.json')) == {'retention': {'keep_last': 3}}
    denied = [r for r in audit(mounted) if r.get('result') == 'denied'
              and r.get('event') == 'model.policy']
    assert denied and denied[-1]['errno'] == 'EACCES'


def test_unauthorised_alias_moves_get_eacces(mounted, gov, users):
    # staging: group mfs_ml. carol (mfs_ops only) may not; alice may.
    res = util.run_as(users['mfs_carol'], ['ln', '-sfn', 'versions/1.1.0', 'staging'], cwd=gov)
    assert res.returncode != 0 and b'Permission denied' in res.stderr, res.stderr
    assert not os.path.lexists(pjoin(gov, 'staging'))
    # ln removed its temporary link (carol, named in a rule, may)
    assert sorted(os.listdir(gov)) == ['history.jsonl', 'latest', 'metadata.json',
                                       'policy.json', 'versions']
    # dave is named nowhere and cannot write the model: not even ln's
    # temporary link
    res = util.run_as(users['mfs_dave'], ['ln', '-sfn', 'versions/1.1.0', 'staging'], cwd=gov)
    assert res.returncode != 0 and b'Permission denied' in res.stderr
    # bob (mfs_ml) cannot write alice's model directory, but the rule names
    # his group: ln -sfn's temporary link and the rename both work
    res = util.run_as(users['mfs_bob'], ['ln', '-sfn', 'versions/1.1.0', 'staging'], cwd=gov)
    assert res.returncode == 0, res.stderr
    assert os.readlink(pjoin(gov, 'staging')) == 'versions/1.1.0'
    assert attempt(users['mfs_bob'], "os.mkdir('versions/9.0.0')", gov) == 'EACCES'
    recs = [r for r in audit(mounted) if r.get('result') == 'denied'
            and r.get('alias') == 'staging']
    assert recs and recs[-1]['errno'] == 'EACCES' and 'reason' in recs[-1]


def test_gates_refuse_with_eperm_and_say_which(mounted, gov, users):
    bob, carol = users['mfs_bob'], users['mfs_carol']
    # 1.0.0 to production: auc 0.85 < 0.90 (and not at staging)
    mark = mounted.log_mark()
    res = util.run_as(carol, ['ln', '-sfn', 'versions/1.0.0', 'production'], cwd=gov)
    assert res.returncode != 0 and b'Operation not permitted' in res.stderr
    log = mounted.log_since(mark)
    assert 'metrics.auc' in log or 'staging' in log, log
    # 1.1.0 not yet at staging
    mark = mounted.log_mark()
    assert attempt(carol, "os.symlink('versions/1.1.0', 'production')", gov) == 'EPERM'
    assert 'staging' in mounted.log_since(mark)
    # staging needs dataset_snapshot_id: write a version without it
    assert util.run_as(bob, ['ln', '-sfn', 'versions/1.1.0', 'staging'],
                       cwd=gov).returncode == 0
    # still needs approvals
    mark = mounted.log_mark()
    assert attempt(carol, "os.symlink('versions/1.1.0', 'production')", gov) == 'EPERM'
    assert 'approvals' in mounted.log_since(mark)
    assert not os.path.lexists(pjoin(gov, 'production'))
    denied = [r for r in audit(mounted) if r.get('result') == 'denied'
              and r.get('alias') == 'production']
    assert denied[-1]['errno'] == 'EPERM' and 'approvals' in denied[-1]['reason']


def test_approvals_by_distinct_non_creators(mounted, gov, users):
    alice, bob, carol, dave = (users[n] for n in ('mfs_alice', 'mfs_bob', 'mfs_carol',
                                                  'mfs_dave'))
    v11 = pjoin(gov, 'versions', '1.1.0')
    assert util.run_as(bob, ['ln', '-sfn', 'versions/1.1.0', 'staging'],
                       cwd=gov).returncode == 0
    # the creator's approval does not count: refused outright
    res = util.run_as(alice, ['setfattr', '-n', 'user.modelfs.approve', '-v',
                              'production', v11])
    assert res.returncode != 0 and b'not permitted' in res.stderr
    # bob approves twice: one approval
    for _ in range(2):
        res = util.run_as(bob, ['setfattr', '-n', 'user.modelfs.approve', '-v',
                                'production looks good', v11])
        assert res.returncode == 0, res.stderr
    assert attempt(carol, "os.symlink('versions/1.1.0', 'production')", gov) == 'EPERM'
    # dave may approve a version he does not own (through modelctl)
    res = util.run_as(dave, [util.MODELCTL, '-m', mounted.mnt, 'approve', 'churn', '1.1.0',
                             'production', 'ok', 'by', 'me'])
    assert res.returncode == 0, res.stderr
    reg = registry_of(gov, '1.1.0')
    assert sorted(a['user'] for a in reg['approvals']) == ['mfs_bob', 'mfs_dave']
    assert [a['comment'] for a in reg['approvals'] if a['user'] == 'mfs_dave'] == ['ok by me']
    res = util.run_as(carol, ['ln', '-sfn', 'versions/1.1.0', 'production'], cwd=gov)
    assert res.returncode == 0, res.stderr
    h = history(gov)[-1]
    assert h['alias'] == 'production' and h['to'] == '1.1.0'
    assert sorted(h['approvals']) == ['mfs_bob', 'mfs_dave']


def test_protected_aliases_move_but_are_never_removed(mounted, gov, users):
    mdir = mounted.model('plain')
    mounted.version('plain', '1.0.0', {'a': b'1'}, sealed=True)
    mounted.version('plain', '2.0.0', {'a': b'2'}, sealed=True)
    # the default policy protects production, even for root
    os.symlink('versions/1.0.0', pjoin(mdir, 'production'))
    util.run(['ln', '-sfn', 'versions/2.0.0', 'production'], cwd=mdir)
    assert as_root(lambda: os.unlink(pjoin(mdir, 'production'))) == 'EPERM'
    res = util.run(['rm', '-rf', mdir], check=False)
    assert res.returncode != 0
    assert os.readlink(pjoin(mdir, 'production')) == 'versions/2.0.0'
    # mv staging production would remove a protected staging
    write_policy(pjoin(mdir, 'policy.json'), {'aliases': {'staging': {'protected': True},
                                                          'production': {'protected': False}}})
    os.symlink('versions/1.0.0', pjoin(mdir, 'staging'))
    assert as_root(lambda: os.rename(pjoin(mdir, 'staging'), pjoin(mdir, 'production'))) \
        == 'EPERM'
    os.unlink(pjoin(mdir, 'production'))     # no longer protected
    assert as_root(lambda: os.unlink(pjoin(mdir, 'staging'))) == 'EPERM'


def test_on_replace_and_lifecycle(mounted, users):
    mdir = mounted.model('lc')
    for v in ('1.0.0', '1.1.0', '1.2.0'):
        mounted.version('lc', v, {'a': v.encode()}, sealed=True)
    write_policy(pjoin(mdir, 'policy.json'),
                 {'aliases': {'production': {'on_replace': 'deprecated'}}})
    os.symlink('versions/1.0.0', pjoin(mdir, 'production'))
    util.run(['ln', '-sfn', 'versions/1.1.0', 'production'], cwd=mdir)
    assert registry_of(mdir, '1.0.0')['lifecycle'] == 'deprecated'
    assert registry_of(mdir, '1.1.0')['lifecycle'] == 'active'
    # archiving an aliased version: EBUSY; an unaliased one: it can no
    # longer be aliased, and latest skips it
    v11, v12 = pjoin(mdir, 'versions', '1.1.0'), pjoin(mdir, 'versions', '1.2.0')
    assert as_root(lambda: os.setxattr(v11, 'user.modelfs.lifecycle', b'archived')) == 'EBUSY'
    assert os.readlink(pjoin(mdir, 'latest')) == 'versions/1.2.0'
    mounted.modelctl('archive', 'lc', '1.2.0', mnt=mounted.mnt)
    assert registry_of(mdir, '1.2.0')['lifecycle'] == 'archived'
    assert os.readlink(pjoin(mdir, 'latest')) == 'versions/1.1.0'
    assert as_root(lambda: os.symlink('versions/1.2.0', pjoin(mdir, 'canary'))) == 'EPERM'
    mounted.modelctl('activate', 'lc', '1.2.0', mnt=mounted.mnt)
    os.symlink('versions/1.2.0', pjoin(mdir, 'canary'))
    assert as_root(lambda: os.setxattr(v12, 'user.modelfs.lifecycle', b'gone')) == 'EINVAL'
    # others may not change it
    util.open_path(mounted.mnt)
    assert attempt(users['mfs_dave'],
                   "os.setxattr(%r, 'user.modelfs.lifecycle', b'deprecated')" % v12,
                   mdir) == 'EACCES'
    recs = [(r['event'], r.get('result'), r.get('after'), r.get('errno'), r['uid'])
            for r in audit(mounted) if r.get('model') == 'lc' and
            r['event'] == 'version.lifecycle']
    assert recs == [('version.lifecycle', 'ok', 'deprecated', None, 0),
                    ('version.lifecycle', 'ok', 'archived', None, 0),
                    ('version.lifecycle', 'ok', 'active', None, 0),
                    ('version.lifecycle', 'denied', None, 'EACCES',
                     users['mfs_dave'].uid)], recs


def test_tags(mounted):
    mdir = mounted.model('tg')
    v1 = mounted.version('tg', '1.0.0', {'a': b'1'}, sealed=True)
    draft = mounted.version('tg', '1.1.0', {'a': b'2'})
    os.setxattr(v1, 'user.modelfs.tag.team', b'risk')
    mounted.modelctl('tag', 'tg', '1.0.0', 'reviewed=yes', mnt=mounted.mnt)
    mounted.modelctl('tag', 'tg', '1.0.0', 'flag', mnt=mounted.mnt)
    assert registry_of(mdir, '1.0.0')['tags'] == {'team': 'risk', 'reviewed': 'yes', 'flag': ''}
    os.removexattr(v1, 'user.modelfs.tag.team')
    mounted.modelctl('tag', 'tg', '1.0.0', '-d', 'flag', mnt=mounted.mnt)
    assert registry_of(mdir, '1.0.0')['tags'] == {'reviewed': 'yes'}
    assert as_root(lambda: os.removexattr(v1, 'user.modelfs.tag.team')) == 'ENODATA'
    assert as_root(lambda: os.setxattr(draft, 'user.modelfs.tag.x', b'1')) == 'EINVAL'
    # controls are write-only: never listed, so cp -a never copies them
    assert not [a for a in os.listxattr(v1) if 'tag' in a or 'approve' in a]


def test_semver_monotonic(mounted, gov, users):
    alice = users['mfs_alice']
    mark = mounted.log_mark()
    assert attempt(alice, "os.mkdir('versions/1.0.5')", gov) == 'EPERM'
    assert 'semver.monotonic' in mounted.log_since(mark)
    assert attempt(alice, "os.mkdir('versions/1.1.0-rc.1')", gov) == 'EPERM'
    assert attempt(alice, "os.mkdir('versions/1.2.0')", gov) == 'ok'
    assert attempt(alice, "os.rename('versions/1.2.0', 'versions/0.9.0')", gov) == 'EPERM'
    assert attempt(alice, "os.rename('versions/1.2.0', 'versions/1.3.0')", gov) == 'ok'
    denied = [(r['event'], r['errno']) for r in audit(mounted)
              if r.get('result') == 'denied' and r.get('model') == 'churn']
    assert ('version.create', 'EPERM') in denied and ('version.rename', 'EPERM') in denied


def test_semver_major_on_breaking_change(mounted):
    mdir = mounted.model('brk')
    write_policy(pjoin(mdir, 'policy.json'), {'semver': {'major_on_breaking_change': True}})

    def version(v, features):
        vdir = mounted.version('brk', v, {'m.bin': v.encode()})
        util.write_file(pjoin(vdir, 'metadata.json'),
                        json.dumps({'features': features}).encode())
        return vdir

    version('1.0.0', ['age', 'tenure'])
    util.seal(pjoin(mdir, 'versions', '1.0.0'))
    same = version('1.1.0', ['age', 'tenure'])
    util.seal(same)
    changed = version('1.2.0', ['age', 'tenure', 'plan'])
    mark = mounted.log_mark()
    assert as_root(lambda: util.seal(changed)) == 'EPERM'
    assert 'major_on_breaking_change' in mounted.log_since(mark)
    assert not util.is_sealed(changed)
    os.rename(changed, pjoin(mdir, 'versions', '2.0.0'))
    util.seal(pjoin(mdir, 'versions', '2.0.0'))
    # pointing an alias at a draft seals it: the rule holds there too
    bad = version('2.1.0', ['age'])
    assert as_root(lambda: os.symlink('versions/2.1.0', pjoin(mdir, 'canary'))) == 'EPERM'
    assert not util.is_sealed(bad)


def test_more_gates(mounted):
    mdir = mounted.model('gt')
    dep = mounted.model('featurizer')
    mounted.version('featurizer', '1.0.0', {'f': b'f'}, sealed=True)
    mounted.version('featurizer', '2.0.0', {'f': b'g'})           # a draft
    del dep
    for v, deps in (('1.0.0', ['featurizer@1.0.0']), ('1.1.0', ['featurizer@2.0.0']),
                    ('1.2.0', ['nowhere@1.0.0'])):
        vdir = mounted.version('gt', v, {'m.bin': v.encode()})
        util.write_file(pjoin(vdir, 'metadata.json'), json.dumps(
            {'depends_on': deps, 'metrics': {'f1': 0.7}, 'checks': {'passed': True},
             'framework': 'torch'}).encode())
        util.seal(vdir)
    write_policy(pjoin(mdir, 'policy.json'), {'aliases': {
        'serving': {'gates': {'depends_on_sealed': True, 'checks.passed': '== true',
                              'framework': '== "torch"', 'metrics.f1': '> 0.5'}},
        'champion': {'gates': {'been_at': 'serving', 'metrics.f1': '>= 0.8'}},
        'shadow': {'gates': {'been_at': 'serving'}}}})
    assert as_root(lambda: os.symlink('versions/1.1.0', pjoin(mdir, 'serving'))) == 'EPERM'
    assert as_root(lambda: os.symlink('versions/1.2.0', pjoin(mdir, 'serving'))) == 'EPERM'
    os.symlink('versions/1.0.0', pjoin(mdir, 'serving'))
    assert as_root(lambda: os.symlink('versions/1.0.0', pjoin(mdir, 'champion'))) == 'EPERM'
    assert as_root(lambda: os.symlink('versions/1.1.0', pjoin(mdir, 'shadow'))) == 'EPERM'
    # been_at holds after serving moves on
    os.unlink(pjoin(mdir, 'serving'))
    os.symlink('versions/1.0.0', pjoin(mdir, 'shadow'))


def test_rollback_exemption(mounted):
    mdir = mounted.model('rb')
    v1 = mounted.version('rb', '1.0.0', {'a': b'1'}, sealed=True)
    mounted.version('rb', '1.1.0', {'a': b'2'}, sealed=True)
    os.setxattr(v1, 'user.modelfs.tag.x', b'1')
    os.symlink('versions/1.0.0', pjoin(mdir, 'production'))
    util.run(['ln', '-sfn', 'versions/1.1.0', 'production'], cwd=mdir)
    write_policy(pjoin(mdir, 'policy.json'), {'aliases': {'production': {
        'approvals': 1, 'exempt_rollback': True}}})
    # back to a version production named before: no approval needed
    util.run(['ln', '-sfn', 'versions/1.0.0', 'production'], cwd=mdir)
    assert history(mdir)[-1]['rollback'] is True
    write_policy(pjoin(mdir, 'policy.json'), {'aliases': {'production': {'approvals': 1}}})
    res = util.run(['ln', '-sfn', 'versions/1.1.0', 'production'], cwd=mdir, check=False)
    assert res.returncode != 0
    # without the exemption, modelctl rollback meets the gates too
    res = mounted.modelctl('-m', mounted.mnt, 'rollback', 'rb', 'production', check=False)
    assert res.returncode == 1 and b'Operation not permitted' in res.stderr, res.stderr
    assert os.readlink(pjoin(mdir, 'production')) == 'versions/1.0.0'


def test_registry_policy_and_naming(mounted, users):
    rpol = pjoin(mounted.mnt, 'policy.json')
    assert util.read_json(rpol) == {}
    assert 'policy.json' in os.listdir(mounted.mnt)
    util.open_path(mounted.mnt)
    assert attempt(users['mfs_alice'], "open(%r, 'w')" % rpol, mounted.mnt) == 'EACCES'
    write_policy(rpol, {'naming': {'models': '^[a-z][a-z0-9-]*$'},
                        'retention': {'keep_last': 5},
                        'aliases': {'staging': {'protected': True}}})
    mark = mounted.log_mark()
    assert as_root(lambda: os.mkdir(pjoin(mounted.models, 'Bad_Name'))) == 'EINVAL'
    assert 'naming.models' in mounted.log_since(mark)
    mdir = mounted.model('good-name')
    # a model without its own policy reads the registry's
    assert util.read_json(pjoin(mdir, 'policy.json'))['retention'] == {'keep_last': 5}
    mounted.version('good-name', '1.0.0', {'a': b'1'}, sealed=True)
    os.symlink('versions/1.0.0', pjoin(mdir, 'staging'))
    assert as_root(lambda: os.unlink(pjoin(mdir, 'staging'))) == 'EPERM'
    # a model's own rule wins over the registry's
    write_policy(pjoin(mdir, 'policy.json'), {'aliases': {'staging': {'protected': False}}})
    os.unlink(pjoin(mdir, 'staging'))
    # naming belongs to the registry's policy only
    with pytest.raises(OSError) as exc:
        write_policy(pjoin(mdir, 'policy.json'), {'naming': {'models': 'x'}})
    assert exc.value.errno == errno.EINVAL


def test_modelctl_direct_without_daemon(mounted):
    mdir = mounted.model('off')
    mounted.version('off', '1.0.0', {'a': b'1'}, sealed=True)
    del mdir
    mounted.stop()
    res = mounted.modelctl('approve', 'off', '1.0.0', 'production', check=False)
    assert res.returncode != 0 and b'not permitted' in res.stderr   # root made it
    mounted.modelctl('tag', 'off', '1.0.0', 'k=v')
    mounted.modelctl('deprecate', 'off', '1.0.0')
    mounted.start()
    reg = registry_of(pjoin(mounted.models, 'off'), '1.0.0')
    assert reg['tags'] == {'k': 'v'} and reg['lifecycle'] == 'deprecated'


def test_policy_from_git_with_cp_and_rsync(mounted, tmp_path):
    '''Users keep policy.json in git and copy it in: cp and rsync --inplace
    (a model directory holds no temporary files) are validated at close.'''
    mdir = mounted.model('rs')
    src = tmp_path / 'p'
    src.mkdir()
    (src / 'policy.json').write_text('{"aliases": {"production": {"approvals": -1}}}')
    for cmd in (['cp'], ['rsync', '--inplace']):
        res = subprocess.run(cmd + [str(src / 'policy.json'), pjoin(mdir, 'policy.json')],
                             capture_output=True)
        assert res.returncode != 0, cmd
        assert util.read_json(pjoin(mdir, 'policy.json')) == {}
    (src / 'policy.json').write_text('{"aliases": {"production": {"approvals": 1}}}')
    util.run(['rsync', '--inplace', str(src / 'policy.json'), pjoin(mdir, 'policy.json')])
    assert util.read_json(pjoin(mdir, 'policy.json'))['aliases']['production'] == \
        {'approvals': 1}


def test_posix_search_read_and_access(mounted, users):
    '''Without default_permissions the kernel checks no search permission
    and answers access() itself: modelfs does both, on the recorded modes;
    sealed content is EROFS for W_OK, for everyone.'''
    util.open_path(mounted.mnt)
    alice, bob, dave = users['mfs_alice'], users['mfs_bob'], users['mfs_dave']
    assert attempt(alice, "os.mkdir('priv', 0o750)", mounted.models) == 'ok'
    vdir = pjoin(mounted.models, 'priv', 'versions', '1.0.0')
    assert attempt(alice, "os.mkdir(%r); open(%r, 'wb').write(b'x');"
                   " os.setxattr(%r, 'user.modelfs.seal', b'1')"
                   % (vdir, pjoin(vdir, 'w.bin'), vdir), mounted.models) == 'ok'
    os.chown(pjoin(mounted.models, 'priv'), alice.uid, users['mfs_bob'].groups[0])
    f = pjoin(vdir, 'w.bin')
    # dave: other, no x on priv/: every path below it is EACCES
    assert attempt(dave, "os.stat(%r)" % f, '/') == 'EACCES'
    assert attempt(dave, "os.listdir(%r)" % pjoin(mounted.models, 'priv'), '/') == 'EACCES'
    assert attempt(dave, "os.chdir(%r)" % pjoin(mounted.models, 'priv'), '/') == 'EACCES'
    assert attempt(dave, "assert not os.access(%r, os.X_OK)"
                   % pjoin(mounted.models, 'priv'), '/') == 'ok'
    # index.json tells dave nothing of what is inside priv/; bob sees it
    index = ("import json\n    print(sorted(m['model'] for m in json.load(open(%r))['models']))"
             "\n    sys.exit(0)" % pjoin(mounted.mnt, 'index.json'))
    assert attempt(dave, index, '/') == '[]'
    assert attempt(bob, index, '/') == "['priv']"
    # bob: group mfs_ml (r-x): may read, may not write
    assert attempt(bob, "os.stat(%r)" % f, '/') == 'ok'
    assert attempt(bob, "assert os.access(%r, os.R_OK)" % f, '/') == 'ok'
    assert attempt(bob, "assert not os.access(%r, os.W_OK)"
                   % pjoin(mounted.models, 'priv'), '/') == 'ok'
    # W_OK on sealed content: EROFS for everyone, root too
    check = ("import ctypes\n    libc = ctypes.CDLL(None, use_errno=True)\n    "
             "assert libc.access(%r.encode(), os.W_OK) == -1\n    "
             "raise OSError(ctypes.get_errno(), 'access')" % f)
    assert attempt(alice, check, '/') == 'EROFS'
    assert attempt(users['mfs_erin'], check, '/') == 'EACCES'   # no search on priv/
    import ctypes
    libc = ctypes.CDLL(None, use_errno=True)
    assert libc.access(f.encode(), os.W_OK) == -1 and ctypes.get_errno() == errno.EROFS
    assert os.access(f, os.R_OK)


def test_supplementary_groups_in_drafts(mounted, users):
    '''A draft shared with a team through its group: a member whose primary
    group is another writes into it (the daemon takes the caller's
    supplementary groups for the draft's real files too).'''
    import grp
    util.open_path(mounted.mnt)
    alice, carol, dave = users['mfs_alice'], users['mfs_carol'], users['mfs_dave']
    ops = grp.getgrnam('mfs_ops').gr_gid
    mdir = pjoin(mounted.models, 'team')
    assert attempt(alice, "os.mkdir('team', 0o777)", mounted.models) == 'ok'
    vdir = pjoin(mdir, 'versions', '1.0.0')
    assert attempt(alice, "os.mkdir(%r, 0o770)" % vdir, '/') == 'ok'
    os.chown(vdir, alice.uid, ops)
    os.chmod(vdir, 0o770)       # mkdir's mode went through the umask
    assert carol.gid != ops and ops in carol.groups
    assert attempt(carol, "open(%r, 'wb').write(b'c')" % pjoin(vdir, 'c.bin'), '/') == 'ok'
    assert attempt(dave, "open(%r, 'wb').write(b'd')" % pjoin(vdir, 'd.bin'), '/') == 'EACCES'
    assert sorted(os.listdir(vdir)) == ['c.bin']


@pytest.mark.mount_options('admin_group=mfs_admin')
def test_admin_group(mounted, users):
    '''-o admin_group: its members write any model's policy and the
    registry's, and move any alias; they still pass gates.'''
    util.open_path(mounted.mnt)
    alice, erin = users['mfs_alice'], users['mfs_erin']
    mdir = pjoin(mounted.models, 'adm')
    assert attempt(alice, "os.mkdir('adm', 0o755)", mounted.models) == 'ok'
    vdir = pjoin(mdir, 'versions', '1.0.0')
    assert attempt(alice, "os.mkdir(%r); open(%r, 'wb').write(b'x');"
                   " os.setxattr(%r, 'user.modelfs.seal', b'1')"
                   % (vdir, pjoin(vdir, 'x.bin'), vdir), '/') == 'ok'
    pol = json.dumps({'aliases': {'production': {'users': ['mfs_alice'],
                                                 'gates': {'required_files': ['README.md']}},
                                  'canary': {'users': ['mfs_alice']}}})
    assert attempt(erin, "open('policy.json', 'w').write(%r)" % pol, mdir) == 'ok'
    assert attempt(erin, "open(%r, 'w').write('{}')" % pjoin(mounted.mnt, 'policy.json'),
                   '/') == 'ok'
    assert attempt(users['mfs_dave'], "open('policy.json', 'w')", mdir) == 'EACCES'
    # who: admins pass; gates: nobody skips them
    assert attempt(erin, "os.symlink('versions/1.0.0', 'canary')", mdir) == 'ok'
    assert attempt(erin, "os.symlink('versions/1.0.0', 'production')", mdir) == 'EPERM'


def test_find_by_lifecycle_tag_and_approvals(mounted, users):
    mounted.model('fd')
    for v in ('1.0.0', '1.1.0', '1.2.0'):
        mounted.version('fd', v, {'a': v.encode()}, sealed=True)
    mounted.modelctl('deprecate', 'fd', '1.0.0', mnt=mounted.mnt)
    mounted.modelctl('tag', 'fd', '1.1.0', 'owner=risk', mnt=mounted.mnt)
    util.open_path(mounted.mnt)
    for who, version, alias in (('mfs_bob', '1.1.0', 'production'),
                                ('mfs_carol', '1.1.0', 'production'),
                                ('mfs_carol', '1.1.0', 'production'),  # again: still one
                                ('mfs_carol', '1.2.0', 'production'),
                                ('mfs_bob', '1.2.0', 'staging')):
        res = util.run_as(users[who], [util.MODELCTL, '-m', mounted.mnt, 'approve', 'fd',
                                       version, alias])
        assert res.returncode == 0, res.stderr

    def found(expr, **kw):
        res = mounted.modelctl('find', expr, as_json=True, **kw).json
        return sorted(r['version'] for r in res)

    assert found('lifecycle == "deprecated"') == ['1.0.0']
    assert found('lifecycle == "active"') == ['1.1.0', '1.2.0']
    assert found('tag.owner == "risk"') == ['1.1.0']
    assert found('approvals.production >= 2') == ['1.1.0']
    assert found('approvals.production >= 1') == ['1.1.0', '1.2.0']
    assert found('approvals.staging == 1') == ['1.2.0']
    assert found('not exists(approvals.production)') == ['1.0.0']
    assert found('approved_by.production contains "mfs_bob"') == ['1.1.0']
    assert [r['version'] for r in mounted.modelctl('find', 'model == "fd"', '--sort',
                                                   '-approvals.production',
                                                   as_json=True).json] == \
        ['1.1.0', '1.2.0', '1.0.0']
    # the same answers through the mount, for a user who cannot open the store
    for expr, want in (('tag.owner == "risk"', ['1.1.0']),
                       ('lifecycle == "deprecated"', ['1.0.0']),
                       ('approvals.production >= 2', ['1.1.0']),
                       ('approved_by.staging contains "mfs_bob"', ['1.2.0'])):
        res = util.run_as(users['mfs_dave'], [util.MODELCTL, '-m', mounted.mnt, '--json',
                                              'find', expr])
        assert res.returncode == 0, res.stderr
        assert sorted(r['version'] for r in json.loads(res.stdout)) == want


def test_modelctl_promote_follows_the_policy(mounted, gov, users):
    '''modelctl promote is ln -sfn: the same rules, through the mount.'''
    bob, carol = users['mfs_bob'], users['mfs_carol']
    res = util.run_as(carol, [util.MODELCTL, '-m', mounted.mnt, 'promote', 'churn', '1.1.0',
                              'staging'])
    assert res.returncode == 1 and b'Permission denied' in res.stderr, res.stderr
    res = util.run_as(bob, [util.MODELCTL, '-m', mounted.mnt, 'promote', 'churn', '1.1.0',
                            'staging'])
    assert res.returncode == 0 and b'staging: (none) -> 1.1.0' in res.stdout, res.stderr
    res = util.run_as(carol, [util.MODELCTL, '-m', mounted.mnt, 'promote', 'churn', '1.1.0',
                              'production'])
    assert res.returncode == 1 and b'Operation not permitted' in res.stderr, res.stderr
    assert sorted(os.listdir(gov)) == ['history.jsonl', 'latest', 'metadata.json',
                                       'policy.json', 'staging', 'versions']


@pytest.mark.mount_options('admin_group=mfs_admin')
def test_admins_manage_versions_of_any_model(mounted, users):
    '''Registry admins pass the model directory's write check (as root
    does): they register and remove versions in models they do not own.'''
    util.open_path(mounted.mnt)
    alice, erin = users['mfs_alice'], users['mfs_erin']
    assert attempt(alice, "os.mkdir('own', 0o755)", mounted.models) == 'ok'
    mdir = pjoin(mounted.models, 'own')
    assert attempt(erin, "os.mkdir('versions/1.0.0')", mdir) == 'ok'
    assert attempt(erin, "os.rmdir('versions/1.0.0')", mdir) == 'ok'
    assert attempt(users['mfs_dave'], "os.mkdir('versions/1.0.0')", mdir) == 'EACCES'


def test_approvers_restrict_who_may_approve(mounted, gov, users):
    policy = util.read_json(pjoin(gov, 'policy.json'))
    policy['aliases']['production']['approvers'] = {'groups': ['mfs_ops']}
    write_policy(pjoin(gov, 'policy.json'), policy)
    v11 = pjoin(gov, 'versions', '1.1.0')
    stmt = "os.setxattr(%r, 'user.modelfs.approve', b'production')" % v11
    assert attempt(users['mfs_dave'], stmt, '/') == 'EACCES'
    assert attempt(users['mfs_carol'], stmt, '/') == 'ok'
    assert [a['user'] for a in registry_of(gov, '1.1.0')['approvals']] == ['mfs_carol']
    denied = [r for r in audit(mounted) if r.get('event') == 'version.approve'
              and r.get('result') == 'denied']
    assert denied[-1]['errno'] == 'EACCES' and denied[-1]['uid'] == users['mfs_dave'].uid


EXCHANGE = ('import ctypes\n    libc = ctypes.CDLL(None, use_errno=True)\n'
            '    if libc.renameat2(-100, os.fsencode(%r), -100, os.fsencode(%r), 2):\n'
            '        raise OSError(ctypes.get_errno(), "renameat2")')


def test_a_swapped_temporary_link_cannot_become_a_restricted_alias(mounted, users):
    '''ln -sfn is symlink(tmp) then rename(tmp, production). Someone under
    the default rule (named in another alias rule) may touch links without
    a rule of their own, so he can swap the promoter's temporary link for
    his own between the two steps: the rename must then be refused, not
    point production where its permitted mover never said.'''
    alice, bob, carol = users['mfs_alice'], users['mfs_bob'], users['mfs_carol']
    util.open_path(mounted.mnt)
    assert attempt(alice, "os.mkdir('sw', 0o755)", mounted.models) == 'ok'
    mdir = pjoin(mounted.models, 'sw')
    for v in ('1.0.0', '2.0.0'):
        vdir = pjoin(mdir, 'versions', v)
        assert attempt(alice, "os.mkdir(%r); open(%r, 'wb').write(b'x')\n    "
                       "os.setxattr(%r, 'user.modelfs.seal', b'1')"
                       % (vdir, pjoin(vdir, 'w'), vdir), '/') == 'ok'
    assert attempt(alice, "open('policy.json', 'w').write(%r)" % json.dumps(
        {'aliases': {'production': {'users': ['mfs_carol']},
                     'staging': {'users': ['mfs_bob']}}}), mdir) == 'ok'
    # bob may not move production himself
    assert attempt(bob, "os.symlink('versions/2.0.0', 'production')", mdir) == 'EACCES'
    # ... so he swaps carol's temporary link for his own in between
    assert attempt(carol, "os.symlink('versions/1.0.0', 'CuTEST01')", mdir) == 'ok'
    assert attempt(bob, "os.symlink('versions/2.0.0', '.atk')", mdir) == 'ok'
    assert attempt(bob, EXCHANGE % ('.atk', 'CuTEST01'), mdir) == 'ok'
    mark = mounted.log_mark()
    assert attempt(carol, "os.rename('CuTEST01', 'production')", mdir) == 'EACCES'
    assert not os.path.lexists(pjoin(mdir, 'production'))
    assert "last set by mfs_bob" in mounted.log_since(mark)
    denied = [r for r in audit(mounted) if r.get('model') == 'sw' and
              r.get('result') == 'denied' and r.get('alias') == 'production']
    assert denied[-1]['uid'] == carol.uid and denied[-1]['errno'] == 'EACCES'
    # nor by exchange onto production once it exists
    assert attempt(carol, "os.symlink('versions/1.0.0', 'CuTEST02')\n    "
                   "os.rename('CuTEST02', 'production')", mdir) == 'ok'
    assert attempt(carol, EXCHANGE % ('CuTEST01', 'production'), mdir) == 'EACCES'
    assert os.readlink(pjoin(mdir, 'production')) == 'versions/1.0.0'
    # carol's own ln -sfn, and an admin's rename of anyone's link, work
    res = util.run_as(carol, ['ln', '-sfn', 'versions/2.0.0', 'production'], cwd=mdir)
    assert res.returncode == 0, res.stderr
    os.rename(pjoin(mdir, 'CuTEST01'), pjoin(mdir, 'production'))
    assert os.readlink(pjoin(mdir, 'production')) == 'versions/2.0.0'
    assert [(h['alias'], h['from'], h['to'], h['user']) for h in history(mdir)
            if h['alias'] == 'production'] == [
        ('production', None, '1.0.0', 'mfs_carol'),
        ('production', '1.0.0', '2.0.0', 'mfs_carol'),
        ('production', '2.0.0', '2.0.0', 'root')]


@pytest.fixture()
def fuse_conf_allow_other():
    '''What a daemon run by another user needs: /etc/fuse.conf with
    user_allow_other (README), and /dev/fuse open to everyone (Debian's
    default; some containers make it root's only). Both restored after.'''
    conf = '/etc/fuse.conf'
    old = open(conf).read() if os.path.exists(conf) else None
    dev_mode = stat.S_IMODE(os.stat('/dev/fuse').st_mode)
    if old is None or not any(line.strip() == 'user_allow_other'
                              for line in old.splitlines()):
        with open(conf, 'w') as fh:
            fh.write((old or '') + '\nuser_allow_other\n')
    try:
        os.chmod('/dev/fuse', 0o666)
        yield
    finally:
        os.chmod('/dev/fuse', dev_mode)
        if old is None:
            os.unlink(conf)
        else:
            with open(conf, 'w') as fh:
                fh.write(old)


def test_a_daemon_not_run_as_root_keeps_drafts_to_their_creators(tmp_path, users,
                                                                   fuse_conf_allow_other):
    '''A daemon run by alice cannot take its callers' identities, so the
    kernel would check alice's credentials for every draft file: only the
    version's creator (and alice) may act inside a draft.'''
    alice, bob, dave = users['mfs_alice'], users['mfs_bob'], users['mfs_dave']
    base = tmp_path / 'nonroot'
    base.mkdir()
    os.chown(base, alice.uid, alice.gid)
    mnt = str(base / 'mnt')
    os.mkdir(mnt)
    os.chown(mnt, alice.uid, alice.gid)
    util.open_path(mnt)
    log_path = str(tmp_path / 'modelfs.log')
    with open(log_path, 'ab') as log:
        proc = subprocess.Popen(
            ['setpriv', '--reuid=%d' % alice.uid, '--regid=%d' % alice.gid, '--init-groups',
             '--', util.MODELFS, '-f', '-o', 'store=%s,allow_other' % (base / 'store'), mnt],
            stdin=subprocess.DEVNULL, stdout=log, stderr=log)
    try:
        util.wait_for_mount(proc, mnt, log_path=log_path)
        models = pjoin(mnt, 'models')
        vdir = pjoin(models, 'b', 'versions', '1.0.0')
        assert attempt(bob, "os.makedirs(%r)\n    open(%r, 'w').write('mine')"
                       % (vdir, pjoin(vdir, 'w')), '/') == 'ok'
        # dave: nothing inside bob's draft, though the kernel would let
        # the daemon's user (alice) do it all
        for stmt in ("open(%r).read()" % pjoin(vdir, 'w'),
                     "open(%r, 'w').write('not yours')" % pjoin(vdir, 'w'),
                     "open(%r, 'w').write('x')" % pjoin(vdir, 'new'),
                     "os.unlink(%r)" % pjoin(vdir, 'w'),
                     "os.mkdir(%r)" % pjoin(vdir, 'sub')):
            assert attempt(dave, stmt, '/') == 'EACCES', stmt
        with open(log_path) as fh:
            assert "a daemon not run as root cannot act as its callers" in fh.read()
        # the creator and the daemon's user may
        assert attempt(bob, "open(%r, 'a').write('!')" % pjoin(vdir, 'w'), '/') == 'ok'
        assert attempt(alice, "assert open(%r).read() == 'mine!'" % pjoin(vdir, 'w'),
                       '/') == 'ok'
        # sealed, the recorded modes apply: dave reads it
        assert attempt(bob, "os.setxattr(%r, 'user.modelfs.seal', b'1')" % vdir, '/') == 'ok'
        assert attempt(dave, "assert open(%r).read() == 'mine!'" % pjoin(vdir, 'w'),
                       '/') == 'ok'
        util.umount(proc, mnt)
    finally:
        util.cleanup(proc, mnt)


def test_approvals_count_only_approvers_the_rule_names_at_the_move(mounted, gov, users):
    '''An approval given before the rule named its approvers (or by someone
    who has left their group since) does not count at the move.'''
    bob, carol, dave = users['mfs_bob'], users['mfs_carol'], users['mfs_dave']
    res = util.run_as(bob, ['ln', '-sfn', 'versions/1.1.0', 'staging'], cwd=gov)
    assert res.returncode == 0, res.stderr
    v11 = pjoin(gov, 'versions', '1.1.0')
    stmt = "os.setxattr(%r, 'user.modelfs.approve', b'production')" % v11
    assert attempt(dave, stmt, '/') == 'ok'      # no approvers rule yet
    assert attempt(carol, stmt, '/') == 'ok'
    policy = util.read_json(pjoin(gov, 'policy.json'))
    policy['aliases']['production']['approvers'] = {'groups': ['mfs_ops']}
    write_policy(pjoin(gov, 'policy.json'), policy)
    mark = mounted.log_mark()
    res = util.run_as(carol, ['ln', '-sfn', 'versions/1.1.0', 'production'], cwd=gov)
    assert res.returncode != 0 and b'Operation not permitted' in res.stderr, res.stderr
    assert 'whom its approvers names; it has 1' in mounted.log_since(mark)
    assert attempt(bob, stmt, '/') == 'ok'       # mfs_ops
    res = util.run_as(carol, ['ln', '-sfn', 'versions/1.1.0', 'production'], cwd=gov)
    assert res.returncode == 0, res.stderr
    assert sorted(history(gov)[-1]['approvals']) == ['mfs_bob', 'mfs_carol']


def test_chmod_and_group_denials_hold_against_cached_names(mounted, users):
    '''The kernel checks no search permission on a walk through names it
    has cached: a chmod must make it forget them, and a mode that denies a
    group what it grants others must keep names uncached.'''
    util.open_path(mounted.mnt)
    alice, bob, dave = users['mfs_alice'], users['mfs_bob'], users['mfs_dave']
    for name in ('open', 'grp'):
        mdir = pjoin(mounted.models, name)
        vdir = pjoin(mdir, 'versions', '1.0.0')
        assert attempt(alice, "os.mkdir(%r, 0o755); os.mkdir(%r)\n    "
                       "open(%r, 'wb').write(b'x')\n    "
                       "os.setxattr(%r, 'user.modelfs.seal', b'1')"
                       % (mdir, vdir, pjoin(vdir, 'w.bin'), vdir), '/') == 'ok'
    # bob reads through open/ (names now cached), then alice closes it
    reads = ("open(%r).read(); open(%r).read(); os.listdir(%r)"
             % (pjoin(mounted.models, 'open', 'versions', '1.0.0', 'w.bin'),
                pjoin(mounted.models, 'open', 'policy.json'),
                pjoin(mounted.models, 'open', 'versions')))
    assert attempt(bob, reads, '/') == 'ok'
    assert attempt(alice, "os.chmod(%r, 0o700)" % pjoin(mounted.models, 'open'), '/') == 'ok'
    for _ in range(100):            # the invalidation runs on its own thread
        if attempt(bob, reads, '/') == 'EACCES':
            break
    assert attempt(bob, reads, '/') == 'EACCES'
    # grp/: group mfs_ml may not search it, everyone else may
    os.chown(pjoin(mounted.models, 'grp'), alice.uid, bob.groups[0])
    assert attempt(alice, "os.chmod(%r, 0o705)" % pjoin(mounted.models, 'grp'), '/') == 'ok'
    f = pjoin(mounted.models, 'grp', 'versions', '1.0.0', 'w.bin')
    assert attempt(dave, "open(%r).read()" % f, '/') == 'ok'
    assert attempt(bob, "open(%r).read()" % f, '/') == 'EACCES'


def test_an_owner_gives_a_model_only_to_a_group_of_theirs(mounted, users):
    import grp
    util.open_path(mounted.mnt)
    alice = users['mfs_alice']
    mdir = pjoin(mounted.models, 'g')
    ml, ops = grp.getgrnam('mfs_ml').gr_gid, grp.getgrnam('mfs_ops').gr_gid
    assert attempt(alice, "os.mkdir(%r, 0o755)" % mdir, '/') == 'ok'
    assert attempt(alice, "os.chown(%r, -1, %d)" % (mdir, ops), '/') == 'EPERM'
    assert attempt(alice, "os.chown(%r, -1, %d)" % (mdir, ml), '/') == 'ok'
    assert os.stat(mdir).st_gid == ml
    os.chown(mdir, -1, ops)                     # root may
    assert attempt(alice, "os.chmod(%r, 0o2775)" % mdir, '/') == 'ok'
    assert os.stat(mdir).st_mode & 0o7777 == 0o775   # set-group-ID dropped


def test_lineage_shows_only_what_the_reader_may_see(mounted, users):
    '''lineage.json names versions of other models: of a model the reader
    may not search, only the ref of a parent, and no children.'''
    util.open_path(mounted.mnt)
    alice, dave = users['mfs_alice'], users['mfs_dave']

    def version(model, mode, parents):
        mdir = pjoin(mounted.models, model)
        vdir = pjoin(mdir, 'versions', '1.0.0')
        meta = {'dataset_snapshot_id': 'ds-' + model, 'parents': parents}
        assert attempt(alice, "os.mkdir(%r, %d); os.mkdir(%r)\n    "
                       "open(%r, 'wb').write(b'x'); open(%r, 'w').write(%r)\n    "
                       "os.setxattr(%r, 'user.modelfs.seal', b'1')"
                       % (mdir, mode, vdir, pjoin(vdir, 'w'), pjoin(vdir, 'metadata.json'),
                          json.dumps(meta), vdir), '/') == 'ok'
        return pjoin(vdir, 'lineage.json')

    base = version('base', 0o755, [])
    secret = version('secret', 0o700, ['base@1.0.0'])
    top = version('top', 0o755, ['secret@1.0.0'])
    read = "import json\n    print(json.dumps(json.load(open(%r))))\n    sys.exit(0)"
    # alice sees everything
    assert json.loads(attempt(alice, read % base, '/'))['children'] == ['secret@1.0.0']
    node = json.loads(attempt(alice, read % top, '/'))['parents'][0]
    assert node['dataset_snapshot_id'] == 'ds-secret' and node['state'] == 'sealed'
    # dave: no child in secret/, and of the parent in secret/ its ref only
    assert json.loads(attempt(dave, read % base, '/'))['children'] == []
    lin = json.loads(attempt(dave, read % top, '/'))
    assert lin['parents'] == [{'ref': 'secret@1.0.0', 'resolved': True}]
    assert [a['ref'] for a in lin['ancestors']] == ['secret@1.0.0']
    assert attempt(dave, read % secret, '/') == 'EACCES'


def test_a_truncate_refused_leaves_an_instant_copy_whole(mounted, users):
    '''truncate(2) by path of an instant copy first turns it back into an
    ordinary file: that must not happen for a caller who may not write it.'''
    util.open_path(mounted.mnt)
    data = os.urandom(65536)
    src = mounted.version('ic', '1.0.0', {'w.bin': data}, sealed=True)
    dst = pjoin(mounted.models, 'ic', 'versions', '1.1.0')
    os.mkdir(dst)
    subprocess.run(['cp', pjoin(src, 'w.bin'), pjoin(dst, 'w.bin')], check=True)
    assert os.stat(pjoin(dst, 'w.bin')).st_mode & 0o777 == 0o644
    assert attempt(users['mfs_dave'], "os.truncate(%r, 0)" % pjoin(dst, 'w.bin'),
                   '/') == 'EACCES'
    assert util.read_file(pjoin(dst, 'w.bin')) == data
    util.seal(dst)
    assert util.read_file(pjoin(dst, 'w.bin')) == data
