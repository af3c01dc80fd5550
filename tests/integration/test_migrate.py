#!/usr/bin/env python3
# test_migrate.py - modelctl migrate: an LMDB store into PostgreSQL and back
#
# Everything a user sees through the mount, and the audit trail byte for
# byte (verify passes on both sides, with the same head), survives a move of
# the registry from the embedded store into PostgreSQL and from there into a
# new embedded store.

import errno
import json
import os
import subprocess
from os.path import join as pjoin

import pytest

import util
from conftest import Mount

pytestmark = pytest.mark.skipif(not util.have_postgresql(),
                                reason='needs a PostgreSQL server (apt-get install postgresql)')


def populate(m, tmp):
    src = util.make_source_tree(pjoin(tmp, 'src'))
    m.model('churn')
    subprocess.run(['cp', '-r', src, pjoin(m.models, 'churn', 'versions', '1.0.0')], check=True)
    util.write_file(pjoin(m.models, 'churn', 'versions', '1.0.0', 'metadata.json'),
                    b'{"metrics": {"auc": 0.93}, "framework": "sklearn"}')
    util.seal(pjoin(m.models, 'churn', 'versions', '1.0.0'))
    m.version('churn', '1.1.0', {'model.bin': util.payload('b', 300000)}, sealed=True)
    m.version('fraud', '0.1.0', {'w.bin': b'fraud'}, sealed=True)
    os.symlink('versions/1.0.0', pjoin(m.models, 'churn', 'production'))
    subprocess.run(['ln', '-sfn', 'versions/1.1.0', pjoin(m.models, 'churn', 'production')],
                   check=True)
    os.symlink('versions/1.0.0', pjoin(m.models, 'churn', 'staging'))
    util.write_file(pjoin(m.models, 'churn', 'metadata.json'), b'{"owner": "ml-team"}')
    util.write_file(pjoin(m.models, 'fraud', 'policy.json'),
                    json.dumps({'aliases': {'production': {'approvals': 0}}}).encode())
    m.modelctl('tag', 'churn', '1.1.0', 'stage=prod')
    m.modelctl('deprecate', 'churn', '1.0.0')
    # a denial is an audit record too
    util.expect_errno(errno.EROFS, util.write_file,
                      pjoin(m.models, 'churn', 'versions', '1.0.0', 'new.txt'), b'x')
    os.rmdir(pjoin(m.models, 'fraud', 'versions', '0.1.0'))        # a tombstone


def seen(m):
    return (util.snapshot(m.mnt),
            util.read_file(pjoin(m.mnt, 'audit.jsonl')),
            util.read_file(pjoin(m.models, 'churn', 'history.jsonl')),
            util.read_json(pjoin(m.mnt, 'index.json')))


def head(store):
    res = util.modelctl('audit', 'verify', store=store, as_json=True)
    assert res.json['ok'], res.json
    return res.json['head'], res.json['records']


@pytest.mark.engines('lmdb')
def test_migrate_into_postgresql_and_back(mounted, tmp_path, pg_cluster, output_checker):
    tmp = str(tmp_path)
    populate(mounted, tmp)
    before = seen(mounted)
    mounted.stop()
    h0 = head(mounted.store)
    uri = pg_cluster.createdb('mig')
    blobs = pjoin(tmp, 'shared-blobs')

    res = mounted.modelctl('migrate', '--to', uri, '--blobs', blobs, as_json=True)
    assert res.json['blobs'] == len(util.blob_files_in(blobs)) >= 3
    assert head(mounted.store) == h0            # the store now reads PostgreSQL
    # a second migration into the same database is refused: not empty
    res = mounted.modelctl('migrate', '--to', uri, '--blobs', blobs, check=False)
    assert res.returncode != 0 and b'not empty' in res.stderr, res.stderr

    mounted.start()                             # STORE/config now names it
    assert 'database mig' in mounted.log()
    assert seen(mounted) == before
    mounted.version('churn', '1.2.0', {'model.bin': b'after'}, sealed=True)
    after = seen(mounted)
    mounted.stop()
    h1 = head(mounted.store)

    back = pjoin(tmp, 'back')
    res = mounted.modelctl('migrate', '--to', 'lmdb:' + back, as_json=True)
    assert res.json['blobs'] >= 4
    assert head(back) == h1
    d = pjoin(tmp, 'again')
    os.mkdir(d)
    m2 = Mount(d, [], output_checker)
    m2.store = back
    m2.start()
    try:
        assert seen(m2) == after
        assert os.listdir(pjoin(back, 'blobs'))
    finally:
        m2.stop()
    assert util.modelctl('fsck', store=back).returncode == 0
    mounted.start()


@pytest.mark.engines('lmdb')
def test_migrate_refuses_drafts_a_served_store_and_passwords(mounted, tmp_path, pg_cluster):
    mounted.version('churn', '1.0.0', {'w.bin': b'1'}, sealed=True)
    mounted.version('churn', '1.1.0', {'w.bin': b'draft'})
    uri = pg_cluster.createdb('mig')
    blobs = pjoin(str(tmp_path), 'b')
    res = mounted.modelctl('migrate', '--to', uri, '--blobs', blobs, check=False)
    assert res.returncode != 0 and b'while it is served' in res.stderr, res.stderr
    mounted.stop()
    res = mounted.modelctl('migrate', '--to', uri, '--blobs', blobs, check=False)
    assert res.returncode != 0 and b'1 drafts' in res.stderr, res.stderr
    res = mounted.modelctl('migrate', '--to', 'postgresql://u:secret@localhost/x',
                           '--blobs', blobs, check=False)
    assert res.returncode != 0 and b'refusing a password' in res.stderr
    res = mounted.modelctl('migrate', '--to', uri, check=False)
    assert res.returncode != 0 and b'--blobs' in res.stderr
    # nothing was recorded: the store still serves itself
    with open(pjoin(mounted.store, 'config')) as fh:
        assert 'db ' not in fh.read()
    mounted.start()
    assert util.read_file(pjoin(mounted.models, 'churn', 'versions', '1.1.0', 'w.bin')) == b'draft'
