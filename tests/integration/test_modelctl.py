#!/usr/bin/env python3
# test_modelctl.py - modelctl read verbs, seal through the mount, fsck
#
# DESIGN §2 and §5: read verbs read the store directly, beside a mounted
# daemon; mutating verbs go through the mount; fsck re-hashes blobs and
# reports a damaged one with its name and the word "digest".

import errno
import json
import os
from os.path import join as pjoin

import pytest

import util
from util import payload, read_json, seal


@pytest.fixture()
def registry_world(mounted):
    '''a: sealed 0.9.0 (tombstoned), 1.0.0, 1.1.0; production -> 1.0.0
    b: no versions'''
    mounted.version('a', '0.9.0', {'old': b'old'}, sealed=True)
    os.rmdir(pjoin(mounted.models, 'a', 'versions', '0.9.0'))
    v10 = mounted.version('a', '1.0.0', {'w.bin': payload('w', 4000), 'c.txt': b'cfg'})
    util.write_file(pjoin(v10, 'metadata.json'), json.dumps(
        {'description': 'first', 'metrics': {'auc': 0.8}}))
    seal(v10)
    mounted.version('a', '1.1.0', {'w.bin': payload('w2', 5000)}, sealed=True)
    os.symlink('versions/1.0.0', pjoin(mounted.models, 'a', 'production'))
    mounted.model('b')
    return mounted


def by(key, items):
    return {i[key]: i for i in items}


def pick(d, *keys):
    '''The keys the contract names (extra keys are allowed).'''
    missing = [k for k in keys if k not in d]
    assert not missing, 'missing keys %s in %r' % (missing, d)
    return {k: d[k] for k in keys}


def test_list_json(registry_world):
    res = registry_world.modelctl('list', as_json=True)
    assert isinstance(res.json, list)
    got = by('model', res.json)
    assert set(got) == {'a', 'b'}
    keys = ('model', 'versions', 'latest', 'aliases')
    assert pick(got['a'], *keys) == {'model': 'a', 'versions': 2, 'latest': '1.1.0',
                                     'aliases': {'production': '1.0.0'}}
    assert pick(got['b'], *keys) == {'model': 'b', 'versions': 0, 'latest': None,
                                     'aliases': {}}


def test_list_json_via_env(registry_world):
    res = util.modelctl('list', as_json=True,
                        env={'MODELFS_STORE': registry_world.store})
    assert set(by('model', res.json)) == {'a', 'b'}


def test_list_model_json(registry_world):
    mounted = registry_world
    mounted.version('a', '2.0.0-rc.1', {'x': b'draft'})
    res = mounted.modelctl('list', 'a', as_json=True)
    got = by('version', res.json)
    assert set(got) == {'1.0.0', '1.1.0', '2.0.0-rc.1'}
    v10 = got['1.0.0']
    assert v10['state'] == 'sealed'
    assert v10['size'] == 4000 + 3
    files = v10['files']
    assert (files if isinstance(files, int) else len(files)) == 2
    assert v10['aliases'] == ['production']
    v11 = got['1.1.0']
    assert (v11['state'], v11['size'], v11['aliases']) == ('sealed', 5000, [])
    assert got['2.0.0-rc.1']['state'] == 'draft'


def test_show_model_json(registry_world):
    res = registry_world.modelctl('show', 'a', as_json=True)
    doc = res.json
    assert doc['model'] == 'a'
    assert doc['aliases'] == {'production': '1.0.0'}
    assert doc['latest'] == '1.1.0'
    listed = registry_world.modelctl('list', 'a', as_json=True).json
    assert by('version', doc['versions']) == by('version', listed)


def test_show_version_json_matches_metadata(registry_world):
    vdir = pjoin(registry_world.models, 'a', 'versions', '1.0.0')
    meta = read_json(pjoin(vdir, 'metadata.json'))
    res = registry_world.modelctl('show', 'a@1.0.0', as_json=True)
    doc = dict(res.json)
    assert doc.pop('metadata') == {'description': 'first', 'metrics': {'auc': 0.8}}
    assert doc == meta['registry']
    assert doc['aliases'] == ['production']
    assert by('path', doc['files'])['w.bin']['digest'] == \
        util.xxhsum(pjoin(vdir, 'w.bin'))


def test_show_missing_fails(registry_world):
    assert registry_world.modelctl('show', 'nope', check=False).returncode != 0
    assert registry_world.modelctl('show', 'a@9.9.9', check=False).returncode != 0


def test_read_verbs_without_daemon(registry_world):
    registry_world.stop()
    res = registry_world.modelctl('list', as_json=True)
    assert set(by('model', res.json)) == {'a', 'b'}
    res = registry_world.modelctl('show', 'a@1.1.0', as_json=True)
    assert res.json['version'] == '1.1.0'
    assert res.json['metadata'] == {}


@pytest.mark.parametrize('how', ['flag', 'env'])
def test_seal_through_mount(mounted, how):
    vdir = mounted.version('m', '1.0.0', {'a': b'through the mount'})
    if how == 'flag':
        mounted.modelctl('seal', 'm', '1.0.0', mnt=mounted.mnt)
    else:
        util.modelctl('seal', 'm', '1.0.0',
                      env={'MODELFS_STORE': mounted.store,
                           'MODELFS_MOUNT': mounted.mnt})
    # the daemon saw it: the kernel-visible tree says sealed at once
    assert util.is_sealed(vdir)
    util.expect_errno(errno.EROFS, util.write_file, pjoin(vdir, "a"), b"x")
    assert os.readlink(pjoin(mounted.models, 'm', 'latest')) == 'versions/1.0.0'
    show = mounted.modelctl('show', 'm@1.0.0', as_json=True).json
    assert show['state'] == 'sealed'


def test_seal_empty_draft_fails(mounted):
    os.makedirs(pjoin(mounted.models, 'm', 'versions', '1.0.0'))
    res = mounted.modelctl('seal', 'm', '1.0.0', mnt=mounted.mnt, check=False)
    assert res.returncode != 0
    assert res.stderr.strip()
    assert not util.is_sealed(pjoin(mounted.models, 'm', 'versions', '1.0.0'))


def test_fsck_clean_while_mounted(registry_world):
    res = registry_world.modelctl('fsck', check=False)
    assert res.returncode == 0, res.stdout + res.stderr


def test_fsck_detects_corrupted_blob(mounted, tmp_path):
    data = payload('victim', 50000)
    mounted.version('m', '1.0.0', {'victim.bin': data, 'ok.bin': b'fine'},
                    sealed=True)
    mounted.stop()
    name = util.xxh_bytes(data, tmp_path)
    blob = pjoin(mounted.store, 'blobs', name[:2], name)
    assert os.path.exists(blob), sorted(util.blob_files(mounted.store))
    orig_mode = os.stat(blob).st_mode
    with open(blob, 'r+b') as fh:
        fh.seek(1234)
        fh.write(b'\xff\xfe')
    try:
        res = util.modelctl('fsck', store=mounted.store, check=False)
        assert res.returncode == 1, res.stdout + res.stderr
        report = (res.stdout + res.stderr).decode('utf-8', 'replace')
        lines = [ln for ln in report.splitlines() if name in ln]
        assert lines, report
        assert any('digest' in ln for ln in lines), report
        other = util.xxh_bytes(b'fine', tmp_path)
        assert other not in report
    finally:
        with open(blob, 'r+b') as fh:
            fh.seek(1234)
            fh.write(data[1234:1236])
        os.chmod(blob, orig_mode & 0o7777)
    res = util.modelctl('fsck', store=mounted.store, check=False)
    assert res.returncode == 0, res.stdout + res.stderr


def test_fsck_detects_missing_blob(mounted, tmp_path):
    data = payload('missing', 7000)
    mounted.version('m', '1.0.0', {'gone.bin': data}, sealed=True)
    mounted.stop()
    name = util.xxh_bytes(data, tmp_path)
    blob = pjoin(mounted.store, 'blobs', name[:2], name)
    saved = str(tmp_path / 'saved-blob')
    os.rename(blob, saved)
    try:
        res = util.modelctl('fsck', store=mounted.store, check=False)
        assert res.returncode == 1, res.stdout + res.stderr
        assert name in (res.stdout + res.stderr).decode('utf-8', 'replace')
    finally:
        os.rename(saved, blob)
    assert util.modelctl('fsck', store=mounted.store, check=False).returncode == 0


def test_fsck_unreferenced_blob_is_a_warning(mounted, tmp_path):
    mounted.version('m', '1.0.0', {'a': b'referenced'}, sealed=True)
    mounted.stop()
    data = b'cruft nobody references'
    name = util.xxh_bytes(data, tmp_path)
    d = pjoin(mounted.store, 'blobs', name[:2])
    os.makedirs(d, exist_ok=True)
    blob = pjoin(d, name)
    util.write_file(blob, data, 0o444)
    try:
        res = util.modelctl('fsck', store=mounted.store, check=False)
        assert res.returncode == 0, res.stdout + res.stderr
        assert name in (res.stdout + res.stderr).decode('utf-8', 'replace')
    finally:
        os.unlink(blob)


def test_show_empty_model_and_bad_seal(registry_world):
    doc = registry_world.modelctl('show', 'b', as_json=True).json
    assert pick(doc, 'model', 'versions', 'aliases', 'latest') == \
        {'model': 'b', 'versions': [], 'aliases': {}, 'latest': None}
    res = registry_world.modelctl('seal', 'a', '9.9.9', mnt=registry_world.mnt,
                                  check=False)
    assert res.returncode != 0
    res = registry_world.modelctl('seal', 'nope', '1.0.0', mnt=registry_world.mnt,
                                  check=False)
    assert res.returncode != 0
