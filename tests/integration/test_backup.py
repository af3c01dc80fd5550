#!/usr/bin/env python3
# test_backup.py - modelctl backup / restore, also while the store is busy
#
# A backup is LMDB's own snapshot of the database, then the blobs that
# snapshot references, each checked against its name. A restore makes a
# new store from it: fsck clean, byte-identical versions, the same aliases
# and history, drafts discarded (their files are not in a backup).

import errno
import os
import shutil
import subprocess
import threading
from os.path import join as pjoin

import pytest

import util
from conftest import Mount


def restored_mount(tmp_path, backup, checker):
    '''Restore backup into a new store and mount it.'''
    sub = tmp_path / 'restored'
    sub.mkdir()
    res = util.modelctl('restore', backup, pjoin(str(sub), 'store'), as_json=True)
    assert res.json['blobs'] >= 1
    m = Mount(sub, [], checker)
    m.start()
    return m, res.json


def sealed_trees(models_dir):
    '''{model@version: tree} for every sealed version below models/.'''
    out = {}
    for m in sorted(os.listdir(models_dir)):
        vdir = pjoin(models_dir, m, 'versions')
        for v in sorted(os.listdir(vdir)):
            p = pjoin(vdir, v)
            if os.getxattr(p, 'user.modelfs.state') == b'sealed':
                out['%s@%s' % (m, v)] = util.tree(p, skip_root_vfiles=True)
    return out


def aliases(models_dir):
    out = {}
    for m in sorted(os.listdir(models_dir)):
        for name in os.listdir(pjoin(models_dir, m)):
            p = pjoin(models_dir, m, name)
            if os.path.islink(p) and name != 'latest':
                out['%s/%s' % (m, name)] = os.readlink(p)
    return out


def test_backup_and_restore_round_trip(mounted, tmp_path, output_checker):
    src = util.make_source_tree(pjoin(str(tmp_path), 'src'))
    v1 = pjoin(mounted.models, 'churn', 'versions', '1.0.0')
    mounted.model('churn')
    shutil.copytree(src, v1, symlinks=True)
    util.write_file(pjoin(v1, 'metadata.json'), b'{"metrics": {"auc": 0.91}}')
    util.seal(v1)
    mounted.version('churn', '1.1.0', {'model.bin': util.payload('b', 300000),
                                       'same.bin': util.read_file(pjoin(src, 'model.bin'))},
                    sealed=True)
    os.symlink('versions/1.0.0', pjoin(mounted.models, 'churn', 'production'))
    subprocess.run(['ln', '-sfn', 'versions/1.1.0', pjoin(mounted.models, 'churn', 'production')],
                   check=True)
    mounted.version('churn', '1.2.0', {'wip.bin': b'draft'})      # not in a backup
    backup = pjoin(str(tmp_path), 'backup')
    res = mounted.modelctl('backup', backup, as_json=True)
    assert res.json['blobs'] >= 3
    # a backup is a store: fsck reads it
    assert util.modelctl('fsck', store=backup, check=False).returncode == 0

    r, info = restored_mount(tmp_path, backup, output_checker)
    try:
        assert info['drafts_discarded'] == 1
        assert sealed_trees(r.models) == sealed_trees(mounted.models)
        assert aliases(r.models) == aliases(mounted.models) == \
            {'churn/production': 'versions/1.1.0'}
        hist = 'churn/history.jsonl'
        assert util.read_file(pjoin(r.models, hist)) == util.read_file(pjoin(mounted.models, hist))
        assert util.read_json(pjoin(r.models, 'churn/versions/1.0.0/metadata.json'))['metrics'] == \
            {'auc': 0.91}
        assert sorted(os.listdir(pjoin(r.models, 'churn', 'versions'))) == ['1.0.0', '1.1.0']
        # the restored store goes on working
        r.version('churn', '1.2.0', {'new.bin': b'new'}, sealed=True)
    finally:
        r.stop()
    assert util.modelctl('fsck', store=r.store).returncode == 0


def test_backup_while_registrations_and_promotions_run(mounted, tmp_path, output_checker):
    mounted.version('busy', '0.1.0', {'w.bin': os.urandom(1 << 20)}, sealed=True)
    os.symlink('versions/0.1.0', pjoin(mounted.models, 'busy', 'production'))
    stop = threading.Event()
    errors, done = [], []

    def register():
        i = 1
        while not stop.is_set():
            try:
                v = mounted.version('busy', '1.%d.0' % i,
                                    {'w.bin': os.urandom(256 * 1024), 'c.json': b'{}'})
                util.seal(v)
                subprocess.run(['ln', '-sfn', 'versions/1.%d.0' % i,
                                pjoin(mounted.models, 'busy', 'production')], check=True)
            except Exception as e:      # noqa: BLE001 - reported below
                errors.append(e)
                return
            done.append(i)
            i += 1

    t = threading.Thread(target=register)
    t.start()
    backups = []
    try:
        # backups taken while versions are being sealed and promoted
        while (len(backups) < 3 or len(done) < 6) and len(backups) < 50 and not errors:
            b = pjoin(str(tmp_path), 'b%d' % len(backups))
            mounted.modelctl('backup', b)
            backups.append(b)
    finally:
        stop.set()
        t.join()
    assert errors == []
    assert len(done) >= 6
    backups = backups[::max(1, len(backups) // 4)]
    source = sealed_trees(mounted.models)
    seen = set()
    for k, b in enumerate(backups):
        sub = tmp_path / ('r%d' % k)
        sub.mkdir()
        util.modelctl('restore', b, pjoin(str(sub), 'store'))
        assert util.modelctl('fsck', store=pjoin(str(sub), 'store')).returncode == 0
        m = Mount(sub, [], output_checker)
        m.start()
        try:
            got = sealed_trees(m.models)
            assert got, 'an empty restore'
            seen.add(len(got))
            for ref, tree in got.items():
                assert tree == source[ref], ref
            target = os.readlink(pjoin(m.models, 'busy', 'production'))
            assert os.getxattr(pjoin(m.models, 'busy', target), 'user.modelfs.state') == b'sealed'
        finally:
            m.stop()
    assert len(seen) > 1, 'every backup saw the same versions: nothing ran meanwhile'


def test_a_damaged_blob_fails_the_backup(mounted, tmp_path):
    v = mounted.version('m', '1.0.0', {'w.bin': b'x' * 100000}, sealed=True)
    digest = os.getxattr(pjoin(v, 'w.bin'), 'user.modelfs.digest').decode()
    blob = pjoin(mounted.store, 'blobs', digest[:2], digest)
    os.chmod(blob, 0o644)
    with open(blob, 'r+b') as fh:
        fh.seek(500)
        fh.write(b'Y')
    res = mounted.modelctl('backup', pjoin(str(tmp_path), 'b'), check=False)
    assert res.returncode != 0
    assert digest in res.stderr.decode() and 'does not match' in res.stderr.decode()
    # restore it, so fsck after the test finds the store as it was
    with open(blob, 'r+b') as fh:
        fh.seek(500)
        fh.write(b'x')
    os.chmod(blob, 0o444)


def test_refusals(mounted, tmp_path):
    mounted.version('m', '1.0.0', {'w.bin': b'w'}, sealed=True)
    full = pjoin(str(tmp_path), 'full')
    os.mkdir(full)
    util.write_file(pjoin(full, 'x'), b'x')
    res = mounted.modelctl('backup', full, check=False)
    assert res.returncode != 0 and b'not empty' in res.stderr
    assert os.listdir(full) == ['x']
    res = util.modelctl('restore', full, pjoin(str(tmp_path), 'new'), check=False)
    assert res.returncode != 0 and b'no backup' in res.stderr
    good = pjoin(str(tmp_path), 'good')
    mounted.modelctl('backup', good)
    res = util.modelctl('restore', good, full, check=False)
    assert res.returncode != 0 and b'not empty' in res.stderr
    assert os.listdir(full) == ['x']


def test_a_blob_cut_short_is_never_served(mounted):
    '''What is cheap to check at open (the size) is checked at every open;
    fsck re-hashes. Either way the damage is reported, not served.'''
    data = os.urandom(200000)
    v = mounted.version('m', '1.0.0', {'w.bin': data}, sealed=True)
    digest = os.getxattr(pjoin(v, 'w.bin'), 'user.modelfs.digest').decode()
    blob = pjoin(mounted.store, 'blobs', digest[:2], digest)
    os.chmod(blob, 0o644)
    os.truncate(blob, 1000)
    try:
        with pytest.raises(OSError) as e:
            util.read_file(pjoin(v, 'w.bin'))
        assert e.value.errno == errno.EIO
        assert 'is damaged' in mounted.log()
        res = mounted.modelctl('fsck', check=False)
        assert res.returncode != 0 and digest.encode() in res.stdout
    finally:
        util.write_file(blob, data)
        os.chmod(blob, 0o444)
    assert util.read_file(pjoin(v, 'w.bin')) == data
