#!/usr/bin/env python3
# test_instant_copy.py - cp of sealed files into a draft links the blob
#
# cp asks copy_file_range() for the whole file: from a sealed file into an
# empty draft file modelfs makes the draft file a reference to the blob
# (no byte copied, no space used) until something writes it. These tests
# check the bytes seen through the mount at every step, the space used,
# that writes of every kind turn the reference back into an ordinary file
# without touching the sealed original, and that a reference survives a
# restart and the crash rule (a reference is valid only at the blob's size).

import glob
import os
import subprocess
from os.path import join as pjoin

import pytest

import util

BIG = 32 << 20


def disk_bytes(path):
    '''Allocated bytes under path (du -sB1), as the disk sees them.'''
    out = subprocess.run(['du', '-sB1', path], check=True, capture_output=True).stdout
    return int(out.split()[0])


def sealed_source(m, name='src'):
    big = os.urandom(BIG)
    files = {'model.bin': big, 'config.json': b'{"layers": 4}\n',
             'tok/vocab.txt': b'a\nb\nc\n'}
    vdir = m.version(name, '1.0.0', files, sealed=True)
    return vdir, files


def cp_r(src, dst):
    subprocess.run(['cp', '-r', src, dst], check=True)


def digest(path):
    return os.getxattr(path, 'user.modelfs.digest').decode()


@pytest.mark.engines('lmdb')    # a shared registry copies (test_multihost)
def test_cp_r_of_a_version_copies_no_bytes(mounted):
    src, files = sealed_source(mounted)
    before = disk_bytes(mounted.store)
    dst = pjoin(mounted.models, 'src', 'versions', '1.1.0')
    cp_r(src, dst)
    # The 32 MiB file takes no space: a reference, not a copy.
    assert disk_bytes(mounted.store) - before < 1 << 20
    for rel, data in files.items():
        assert util.read_file(pjoin(dst, rel)) == data
    util.seal(dst)
    assert disk_bytes(mounted.store) - before < 1 << 20
    for rel, data in files.items():
        assert util.read_file(pjoin(dst, rel)) == data
        assert digest(pjoin(dst, rel)) == digest(pjoin(src, rel))
    # and the format was read from the blob
    assert os.getxattr(pjoin(dst, 'config.json'), 'user.modelfs.format') == \
        os.getxattr(pjoin(src, 'config.json'), 'user.modelfs.format')


def test_writes_into_an_instant_copy_never_touch_the_original(mounted):
    src, files = sealed_source(mounted)
    big = files['model.bin']
    dst = pjoin(mounted.models, 'src', 'versions', '1.1.0')
    cp_r(src, dst)
    p = pjoin(dst, 'model.bin')

    # overwrite in the middle (r+): the rest keeps the blob's bytes
    with open(p, 'r+b') as fh:
        fh.seek(1000)
        fh.write(b'PATCH')
    want = big[:1000] + b'PATCH' + big[1005:]
    assert util.read_file(p) == want
    # append
    with open(p, 'ab') as fh:
        fh.write(b'TAIL')
    want += b'TAIL'
    assert util.read_file(p) == want
    util.seal(dst)
    assert util.read_file(p) == want
    assert util.read_file(pjoin(src, 'model.bin')) == big
    assert digest(p) != digest(pjoin(src, 'model.bin'))
    assert digest(p) == util.xxh_bytes(want, mounted.tmp)


def test_truncating_an_instant_copy(mounted):
    src, files = sealed_source(mounted)
    big = files['model.bin']
    dst = pjoin(mounted.models, 'src', 'versions', '1.1.0')
    cp_r(src, dst)
    # truncate(2) by path keeps the prefix
    os.truncate(pjoin(dst, 'model.bin'), 4096)
    assert util.read_file(pjoin(dst, 'model.bin')) == big[:4096]
    # O_TRUNC and new bytes
    cp_r(pjoin(src, 'config.json'), pjoin(dst, 'other.json'))
    with open(pjoin(dst, 'other.json'), 'wb') as fh:
        fh.write(b'{}')
    assert util.read_file(pjoin(dst, 'other.json')) == b'{}'
    # ftruncate through an open handle, growing it
    with open(pjoin(dst, 'config.json'), 'r+b') as fh:
        fh.truncate(100)
    assert util.read_file(pjoin(dst, 'config.json')) == \
        files['config.json'] + b'\0' * (100 - len(files['config.json']))
    util.seal(dst)
    assert util.read_file(pjoin(dst, 'model.bin')) == big[:4096]
    assert util.read_file(pjoin(src, 'model.bin')) == big
    assert util.read_file(pjoin(src, 'config.json')) == files['config.json']


def test_a_copy_of_a_copy_and_a_restart(mounted):
    src, files = sealed_source(mounted)
    before = disk_bytes(mounted.store)
    a = pjoin(mounted.models, 'src', 'versions', '1.1.0')
    b = pjoin(mounted.models, 'src', 'versions', '1.2.0')
    cp_r(src, a)
    cp_r(a, b)          # from a draft that is itself a reference
    mounted.remount()   # references are on disk, not in the daemon
    for v in (a, b):
        for rel, data in files.items():
            assert util.read_file(pjoin(v, rel)) == data
        util.seal(v)
    assert disk_bytes(mounted.store) - before < 1 << 20
    assert digest(pjoin(b, 'model.bin')) == digest(pjoin(src, 'model.bin'))


def test_mmap_of_an_instant_copy_reads_the_blob(mounted):
    import mmap
    src, files = sealed_source(mounted)
    dst = pjoin(mounted.models, 'src', 'versions', '1.1.0')
    cp_r(src, dst)
    with open(pjoin(dst, 'model.bin'), 'rb') as fh:
        mm = mmap.mmap(fh.fileno(), 0, prot=mmap.PROT_READ)
        try:
            assert mm[BIG - 4096:] == files['model.bin'][BIG - 4096:]
            assert mm[:4096] == files['model.bin'][:4096]
        finally:
            mm.close()


def test_a_reference_of_the_wrong_size_is_an_ordinary_file(mounted):
    '''The crash rule: the attribute is set before the size, so a file
    whose size is not the blob's is an ordinary file, whatever it says.'''
    src, files = sealed_source(mounted)
    dst = mounted.version('src', '1.1.0', {'empty.bin': b''})
    backing, = glob.glob(pjoin(mounted.store, 'drafts', '*', 'empty.bin'))
    value = '%s %d' % (digest(pjoin(src, 'model.bin')), BIG)
    os.setxattr(backing, 'user.modelfs.blob', value.encode())
    assert util.read_file(pjoin(dst, 'empty.bin')) == b''
    # reaching the size through the mount does not revive it
    os.truncate(pjoin(dst, 'empty.bin'), BIG)
    assert util.read_file(pjoin(dst, 'empty.bin')) == b'\0' * BIG
    util.seal(dst)
    assert util.read_file(pjoin(dst, 'empty.bin')) == b'\0' * BIG


def test_the_reference_attribute_cannot_be_set_through_the_mount(mounted):
    '''Only the daemon makes references: a user naming a blob would read
    bytes of a model they may not read.'''
    src, files = sealed_source(mounted)
    dst = mounted.version('src', '1.1.0', {'f.bin': b'\0' * 16})
    value = '%s %d' % (digest(pjoin(src, 'config.json')), 16)
    try:
        os.setxattr(pjoin(dst, 'f.bin'), 'user.modelfs.blob', value.encode())
    except OSError:
        pass    # refused is as good as ignored
    assert util.read_file(pjoin(dst, 'f.bin')) == b'\0' * 16
    backing, = glob.glob(pjoin(mounted.store, 'drafts', '*', 'f.bin'))
    assert b'user.modelfs.blob' not in subprocess.run(
        ['getfattr', '-d', '-m', '-', backing], capture_output=True).stdout
    util.seal(dst)
    assert util.read_file(pjoin(dst, 'f.bin')) == b'\0' * 16


def test_partial_copies_copy_bytes(mounted):
    '''copy_file_range of a part of a file is an ordinary copy.'''
    src, files = sealed_source(mounted)
    dst = mounted.version('src', '1.1.0')
    fi = os.open(pjoin(src, 'model.bin'), os.O_RDONLY)
    fo = os.open(pjoin(dst, 'part.bin'), os.O_WRONLY | os.O_CREAT, 0o644)
    try:
        n = os.copy_file_range(fi, fo, 1 << 20, 4096)
        assert n > 0
    finally:
        os.close(fi)
        os.close(fo)
    got = util.read_file(pjoin(dst, 'part.bin'))
    assert got == files['model.bin'][4096:4096 + len(got)]
    util.seal(dst)
    assert util.read_file(pjoin(dst, 'part.bin')) == got


def test_writing_on_after_an_instant_copy_through_the_same_fd(mounted):
    '''copy_file_range of a whole file, then more bytes through the same
    descriptor (what `cat a b > c` or a tool appending a trailer does).'''
    src, files = sealed_source(mounted)
    big = files['model.bin']
    dst = mounted.version('src', '1.1.0')
    fi = os.open(pjoin(src, 'model.bin'), os.O_RDONLY)
    fo = os.open(pjoin(dst, 'cat.bin'), os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
    try:
        done = 0
        while done < BIG:
            n = os.copy_file_range(fi, fo, BIG - done)
            assert n > 0
            done += n
        assert os.write(fo, b'trailer') == 7
    finally:
        os.close(fi)
        os.close(fo)
    assert util.read_file(pjoin(dst, 'cat.bin')) == big + b'trailer'
    # and through a shell: the redirection is opened by the shell
    subprocess.run('cat %s %s > %s' % (pjoin(src, 'model.bin'), pjoin(src, 'config.json'),
                                       pjoin(dst, 'sh.bin')), shell=True, check=True)
    assert util.read_file(pjoin(dst, 'sh.bin')) == big + files['config.json']
    util.seal(dst)
    assert util.read_file(pjoin(dst, 'cat.bin')) == big + b'trailer'
    assert util.read_file(pjoin(src, 'model.bin')) == big
