#!/usr/bin/env python3
# test_walk.py - walks of the registry (ls -lR, find) and what they may cache
#
# Sealed directories never change, so the kernel may keep their listings and
# attributes; models, versions and their documents keep their inodes until
# removed through the kernel, so their names are cached for long. These tests
# check that what a walk sees stays right across the changes that happen
# behind the kernel's back: a seal, a promotion, a tombstone.

import errno
import os
import time
import subprocess
from os.path import join as pjoin

import pytest

import util


def listing(path):
    return sorted(os.listdir(path))


def test_ls_l_asks_for_security_labels_once(mounted):
    files = {'f%02d.bin' % i: b'x' * i for i in range(20)}
    vdir = mounted.version('m', '1.0.0', files, sealed=True)
    with pytest.raises(OSError) as e:
        os.getxattr(pjoin(vdir, 'f01.bin'), 'security.selinux')
    assert e.value.errno == errno.EOPNOTSUPP
    with pytest.raises(OSError) as e:
        os.getxattr(pjoin(vdir, 'f01.bin'), 'user.not.ours')
    assert e.value.errno == errno.ENODATA
    out = subprocess.run(['strace', '-f', '-e', 'trace=lgetxattr,getxattr', 'ls', '-l', vdir],
                         capture_output=True, text=True, check=True)
    calls = [l for l in out.stderr.splitlines() if 'security.selinux' in l]
    # ls remembers a device without labels after the first answer
    assert len(calls) <= 1, out.stderr
    assert 'f19.bin' in out.stdout


def test_sealed_listing_is_stable_and_a_draft_listing_is_live(mounted):
    vdir = mounted.version('m', '1.0.0', {'a': b'a'})
    assert listing(vdir) == ['a']
    util.write_file(pjoin(vdir, 'b'), b'b')
    assert listing(vdir) == ['a', 'b']
    util.seal(vdir)
    want = ['a', 'b', 'lineage.json', 'metadata.json']
    assert listing(vdir) == want
    os.symlink('versions/1.0.0', pjoin(mounted.models, 'm', 'production'))
    for _ in range(3):
        assert listing(vdir) == want
        assert listing(pjoin(mounted.models, 'm', 'production')) == want


def test_seal_by_the_idle_thread_is_seen_by_the_next_stat(mounted):
    mounted.remount(['seal_idle=3'])
    vdir = mounted.version('m', '1.0.0', {'a': b'a'})
    st = os.stat(vdir)
    assert os.getxattr(vdir, 'user.modelfs.state') == b'draft'
    for _ in range(250):
        if os.getxattr(vdir, 'user.modelfs.state') == b'sealed':
            break
        time.sleep(0.1)
    assert os.getxattr(vdir, 'user.modelfs.state') == b'sealed'
    assert listing(vdir) == ['a', 'lineage.json', 'metadata.json']
    assert os.stat(vdir).st_ino == st.st_ino
    with pytest.raises(OSError) as e:
        util.write_file(pjoin(vdir, 'b'), b'b')
    assert e.value.errno == errno.EROFS


def test_a_removed_version_is_gone_at_once(mounted):
    v1 = mounted.version('m', '1.0.0', {'a': b'a'}, sealed=True)
    mounted.version('m', '1.1.0', {'a': b'b'}, sealed=True)
    versions = pjoin(mounted.models, 'm', 'versions')
    # walk it twice so the kernel has it all cached
    for _ in range(2):
        subprocess.run(['ls', '-lR', mounted.models], check=True, capture_output=True)
    assert listing(versions) == ['1.0.0', '1.1.0']
    os.rmdir(v1)        # a tombstone
    assert listing(versions) == ['1.1.0']
    with pytest.raises(FileNotFoundError):
        os.stat(v1)
    with pytest.raises(FileNotFoundError):
        os.stat(pjoin(v1, 'metadata.json'))


def test_find_and_ls_lR_agree_with_the_index(mounted):
    for m in range(5):
        for v in range(3):
            mounted.version('m%d' % m, '1.%d.0' % v, {'w.bin': b'%d%d' % (m, v),
                                                      'cfg/c.json': b'{}'}, sealed=True)
    out = subprocess.run(['find', mounted.models, '-type', 'f', '-name', 'w.bin'],
                         capture_output=True, text=True, check=True).stdout.split()
    assert len(out) == 15
    index = util.read_json(pjoin(mounted.mnt, 'index.json'))
    assert os.stat(pjoin(mounted.mnt, 'index.json')).st_size == \
        len(util.read_file(pjoin(mounted.mnt, 'index.json')))
    assert sorted(m['model'] for m in index['models']) == ['m%d' % m for m in range(5)]
    ls = subprocess.run(['ls', '-lR', mounted.models], capture_output=True, text=True,
                        check=True).stdout
    assert ls.count('w.bin') == 15


def test_first_listing_after_a_mount_carries_right_attributes(mounted):
    '''The first listing of a directory hands the kernel every entry's
    attributes (readdirplus): they must be what stat says afterwards.'''
    files = {'w%d.bin' % i: b'y' * (1000 * i + 1) for i in range(5)}
    vdir = mounted.version('m', '1.0.0', files, sealed=True)
    draft = mounted.version('m', '1.1.0', {'d.bin': b'draft'})
    os.symlink('versions/1.0.0', pjoin(mounted.models, 'm', 'production'))
    mounted.remount()
    for d in (vdir, draft, pjoin(mounted.models, 'm')):
        with os.scandir(d) as it:
            seen = {e.name: e.stat(follow_symlinks=False) for e in it}
        for name, st in seen.items():
            again = os.lstat(pjoin(d, name))
            assert (st.st_ino, st.st_mode, st.st_size) == \
                (again.st_ino, again.st_mode, again.st_size), name
    for name, data in files.items():
        assert os.lstat(pjoin(vdir, name)).st_size == len(data)
    assert os.readlink(pjoin(mounted.models, 'm', 'production')) == 'versions/1.0.0'
    assert util.read_file(pjoin(draft, 'd.bin')) == b'draft'
