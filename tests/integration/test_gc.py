#!/usr/bin/env python3
# test_gc.py - retention, garbage collection of blobs, background SHA-256
#
# gc runs in the daemon while it serves the store (modelctl asks it through
# setxattr user.modelfs.gc on the mount root), so every test here drives it
# through the mount and checks the store's blob directory and fsck after.

import errno
import hashlib
import json
import os
import threading
import time
from os.path import join as pjoin

import pytest

import util
from test_crash import kill_and_restart
from util import payload, read_file, seal, write_file


def gc(mounted, dry=False):
    args = ['gc'] + (['--dry-run'] if dry else [])
    return mounted.modelctl(*args, as_json=True).json


def fsck_clean(mounted):
    res = mounted.modelctl('fsck', as_json=True, check=False)
    assert res.returncode == 0, res.stdout
    assert json.loads(res.stdout)['errors'] == []


def digest_of(mounted, path):
    return os.getxattr(path, 'user.modelfs.digest').decode()


def set_policy(mounted, model, policy):
    write_file(pjoin(mounted.models, model, 'policy.json'), json.dumps(policy).encode())


def versions(mounted, model):
    return sorted(os.listdir(pjoin(mounted.models, model, 'versions')))


def test_gc_frees_exactly_the_unreferenced_bytes(mounted):
    only_old = payload('only-old', 300000)
    shared = payload('shared', 200000)
    only_new = payload('only-new', 100000)
    v1 = mounted.version('churn', '1.0.0', {'a.bin': only_old, 's.bin': shared}, sealed=True)
    mounted.version('churn', '1.1.0', {'b.bin': only_new, 's.bin': shared}, sealed=True)
    gone = digest_of(mounted, pjoin(v1, 'a.bin'))
    os.rmdir(v1)                                  # a tombstone: its blobs wait for gc
    # A crash's cruft: a blob file with no LMDB record.
    cruft_name = 'ee' * 16
    os.makedirs(pjoin(mounted.store, 'blobs', 'ee'), exist_ok=True)
    write_file(pjoin(mounted.store, 'blobs', 'ee', cruft_name), b'x' * 4321)
    before = util.blob_files(mounted.store)
    assert gone in before and cruft_name in before

    rep = gc(mounted)
    after = util.blob_files(mounted.store)
    assert set(before) - set(after) == {gone, cruft_name}
    assert rep['blobs_removed'] == 2
    assert rep['cruft_removed'] == 1
    assert rep['bytes_freed'] == before[gone] + before[cruft_name] == len(only_old) + 4321
    assert rep['released'] == 1
    assert rep['tombstoned'] == []
    # What stays reads back, and the store is consistent.
    v2 = pjoin(mounted.models, 'churn', 'versions', '1.1.0')
    assert read_file(pjoin(v2, 's.bin')) == shared
    assert read_file(pjoin(v2, 'b.bin')) == only_new
    fsck_clean(mounted)
    # Nothing left to do: a second run frees nothing.
    rep = gc(mounted)
    assert (rep['blobs_removed'], rep['bytes_freed'], rep['released']) == (0, 0, 0)
    # The deleted version's name stays taken.
    util.expect_errno(errno.EEXIST, os.mkdir, v1)


def test_retention_keeps_newest_aliased_and_open_versions(mounted):
    names = ['1.0.0', '1.1.0', '1.2.0', '1.3.0', '2.0.0']
    data = {v: payload('ret-' + v, 50000 + i) for i, v in enumerate(names)}
    for v in names:
        mounted.version('churn', v, {'w.bin': data[v]}, sealed=True)
    mounted.version('churn', '0.9.0', {'d.bin': b'a draft is never touched'})
    os.symlink('versions/1.0.0', pjoin(mounted.models, 'churn', 'production'))
    set_policy(mounted, 'churn', {'retention': {'keep_last': 2}})
    vdir = pjoin(mounted.models, 'churn', 'versions')
    fh = open(pjoin(vdir, '1.1.0', 'w.bin'), 'rb')
    os.stat(pjoin(vdir, '1.2.0', 'w.bin'))       # the kernel now knows the names
    try:
        blobs = util.blob_files(mounted.store)
        plan = gc(mounted, dry=True)
        # --dry-run changes nothing ...
        assert util.blob_files(mounted.store) == blobs
        assert versions(mounted, 'churn') == ['0.9.0'] + names
        assert plan['dry_run'] is True
        assert [v['version'] for v in plan['tombstoned']] == ['1.2.0']
        assert [v['version'] for v in plan['kept_open']] == ['1.1.0']
        assert plan['blobs_removed'] == 1 and plan['bytes_freed'] == len(data['1.2.0'])
        # ... and the run does what it planned.
        rep = gc(mounted)
        assert rep['dry_run'] is False
        rep['dry_run'] = True
        assert rep == plan
        assert versions(mounted, 'churn') == ['0.9.0', '1.0.0', '1.1.0', '1.3.0', '2.0.0']
        for _ in range(200):                     # forgotten by a notifier thread
            if not os.path.exists(pjoin(vdir, '1.2.0', 'w.bin')):
                break
            time.sleep(0.02)
        assert not os.path.exists(pjoin(vdir, '1.2.0', 'w.bin'))
        assert set(blobs) - set(util.blob_files(mounted.store)) == {
            util.xxh_bytes(data['1.2.0'], mounted.tmp)}
        assert fh.read() == data['1.1.0']
    finally:
        fh.close()
    # Once closed, the open version goes too; production's stays. The
    # daemon learns of the close at RELEASE, which FUSE sends after close()
    # has returned: wait until a plan no longer sees the version open.
    for _ in range(400):
        if not gc(mounted, dry=True)['kept_open']:
            break
        time.sleep(0.02)
    rep = gc(mounted)
    assert [v['version'] for v in rep['tombstoned']] == ['1.1.0']
    assert versions(mounted, 'churn') == ['0.9.0', '1.0.0', '1.3.0', '2.0.0']
    assert read_file(pjoin(mounted.models, 'churn', 'production', 'w.bin')) == data['1.0.0']
    assert read_file(pjoin(vdir, '0.9.0', 'd.bin')) == b'a draft is never touched'
    audit = read_file(pjoin(mounted.mnt, 'audit.jsonl')).decode().splitlines()
    events = [json.loads(line)['event'] for line in audit]
    assert events.count('version.delete') == 2 and events.count('store.gc') == 2
    fsck_clean(mounted)


def test_gc_by_non_admin_is_eacces(mounted, users):
    util.open_path(mounted.mnt)
    mounted.version('churn', '1.0.0', {'w': b'w'}, sealed=True)
    mark = mounted.log_mark()
    res = util.run_as(users['mfs_dave'], ['setfattr', '-n', 'user.modelfs.gc', '-v', 'run',
                                          mounted.mnt])
    assert res.returncode != 0
    assert b'Permission denied' in res.stderr
    assert 'refusing gc' in mounted.log_since(mark)
    audit = read_file(pjoin(mounted.mnt, 'audit.jsonl')).decode().splitlines()
    last = json.loads(audit[-1])
    assert last['result'] == 'denied' and last['uid'] == users['mfs_dave'].uid
    # root may; a bad value is EINVAL
    util.expect_errno(errno.EINVAL, os.setxattr, mounted.mnt, 'user.modelfs.gc', b'now')
    os.setxattr(mounted.mnt, 'user.modelfs.gc', b'dry-run')
    assert json.loads(os.getxattr(mounted.mnt, 'user.modelfs.gc'))['dry_run'] is True


def test_gc_in_a_loop_while_versions_sharing_content_are_sealed_and_read(mounted):
    pool = [payload('pool-%d' % i, 70000 + 1000 * i) for i in range(4)]
    vdir = pjoin(mounted.models, 'm', 'versions')
    mounted.model('m')
    sealed = {}                     # version -> {name: bytes}, live ones
    lock = threading.Lock()
    errors = []
    done = threading.Event()
    deleted = threading.Event()     # a sealer has removed a version
    sealers_done = threading.Event()
    gc_runs = []

    def sealer(major):
        try:
            prev = None
            for j in range(10):
                name = '%d.%d.0' % (major, j)
                files = {'shared.bin': pool[(j + major) % 4],
                         'own.bin': payload('own-%s' % name, 3000 + j)}
                d = pjoin(vdir, name)
                os.mkdir(d)
                for f, b in files.items():
                    write_file(pjoin(d, f), b)
                os.setxattr(d, 'user.modelfs.seal', b'1')
                for f, b in files.items():
                    assert read_file(pjoin(d, f)) == b, (name, f)
                with lock:
                    sealed[name] = files
                if prev:                     # its blobs may drop to 0 refs
                    with lock:
                        del sealed[prev]
                    os.rmdir(pjoin(vdir, prev))
                    deleted.set()
                prev = name
        except Exception as exc:  # reported below
            errors.append(exc)

    def reader():
        try:
            while not done.is_set():
                with lock:
                    items = list(sealed.items())
                for name, files in items:
                    for f, b in files.items():
                        try:
                            got = read_file(pjoin(vdir, name, f))
                        except FileNotFoundError:
                            continue         # deleted meanwhile
                        assert got == b, (name, f)
        except Exception as exc:
            errors.append(exc)

    def collector():
        # From the first removal (before it nothing can be collected) for
        # as long as the sealers run, however fast or slow they are.
        try:
            deleted.wait(120)
            while not sealers_done.is_set() or len(gc_runs) < 5:
                os.setxattr(mounted.mnt, 'user.modelfs.gc', b'run')
                gc_runs.append(1)
        except Exception as exc:
            errors.append(exc)

    threads = [threading.Thread(target=sealer, args=(k,)) for k in (1, 2)]
    rd = threading.Thread(target=reader)
    col = threading.Thread(target=collector)
    for t in threads + [rd, col]:
        t.start()
    for t in threads:
        t.join()
    sealers_done.set()
    col.join()
    done.set()
    rd.join()
    assert errors == []
    # Nothing lost: every live version reads back its bytes, fsck is clean.
    assert sorted(sealed) == versions(mounted, 'm')
    for name, files in sealed.items():
        for f, b in files.items():
            assert read_file(pjoin(vdir, name, f)) == b
    fsck_clean(mounted)
    # The loop did collect while the seals ran (or it proved nothing).
    runs = [json.loads(line) for line in
            read_file(pjoin(mounted.mnt, 'audit.jsonl')).decode().splitlines()]
    runs = [r for r in runs if r['event'] == 'store.gc']
    assert len(runs) == len(gc_runs) >= 5
    assert sum(r['blobs_removed'] for r in runs) > 0
    # And a last gc leaves exactly the live versions' blobs.
    gc(mounted)
    live = {util.xxh_bytes(b, mounted.tmp) for files in sealed.values() for b in files.values()}
    assert set(util.blob_files(mounted.store)) == live
    fsck_clean(mounted)


# ---- SHA-256 -----------------------------------------------------------------

def wait_sha256(path, tries=600):
    '''The sha256 attribute of path once the daemon computed it (a bounded
    wait for background work, not a timing assertion).'''
    for _ in range(tries):
        try:
            return os.getxattr(path, 'user.modelfs.sha256').decode()
        except OSError as exc:
            assert exc.errno == errno.ENODATA
        time.sleep(0.05)
    pytest.fail('no SHA-256 for %s' % path)


def test_sha256_of_each_sealed_file_in_xattr_and_metadata(mounted):
    files = {'model.bin': payload('sha-big', 5 << 20), 'sub/cfg.json': b'{"a": 1}',
             'empty': b''}
    vdir = mounted.version('churn', '1.0.0', files)
    os.setxattr(vdir, 'user.modelfs.seal', b'1')   # util.seal would wait for the digests
    size_at_seal = os.stat(pjoin(vdir, 'metadata.json')).st_size
    for rel, data in files.items():
        p = pjoin(vdir, rel)
        assert wait_sha256(p) == hashlib.sha256(data).hexdigest()
        assert 'user.modelfs.sha256' in os.listxattr(p)
    reg = util.registry(vdir)
    by_path = {f['path']: f for f in reg['files']}
    for rel, data in files.items():
        assert by_path[rel]['sha256'] == hashlib.sha256(data).hexdigest()
    # The document kept its size while the digests arrived.
    assert os.stat(pjoin(vdir, 'metadata.json')).st_size == size_at_seal
    # An identical file in another version has it at once (same blob).
    v2 = mounted.version('churn', '1.1.0', {'copy.bin': files['model.bin']}, sealed=True)
    assert os.getxattr(pjoin(v2, 'copy.bin'), 'user.modelfs.sha256').decode() == \
        hashlib.sha256(files['model.bin']).hexdigest()
    # Controls and facts of drafts: a draft file has none.
    d = mounted.version('churn', '2.0.0', {'x': b'x'})
    util.expect_errno(errno.ENODATA, os.getxattr, pjoin(d, 'x'), 'user.modelfs.sha256')


def test_sha256_owed_before_a_kill_9_is_paid_after_restart(mounted):
    files = {'a.bin': payload('owed-a', 1 << 20), 'b.bin': payload('owed-b', 77777)}
    mounted.version('churn', '1.0.0', files)
    # Sealed without a daemon: nobody hashes, the digests are owed.
    mounted.stop()
    mounted.modelctl('seal', 'churn', '1.0.0')
    show = mounted.modelctl('show', 'churn@1.0.0', as_json=True).json
    assert sorted(f['path'] for f in show['files']) == sorted(files)
    assert all(f['sha256'] is None for f in show['files'])
    # The daemon that starts owing them is killed at once; the next one pays.
    mounted.start()
    kill_and_restart(mounted)
    vdir = pjoin(mounted.models, 'churn', 'versions', '1.0.0')
    for rel, data in files.items():
        assert wait_sha256(pjoin(vdir, rel)) == hashlib.sha256(data).hexdigest()
    fsck_clean(mounted)
