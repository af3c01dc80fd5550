#!/usr/bin/env python3
# test_durability.py - the order of a seal's writes, as a power cut sees it
#
# A kill -9 (test_crash*.py) keeps the page cache; a power cut does not, so
# what survives is what was fsynced, in the order it was. This test watches
# a seal's system calls (strace -f -y on the daemon) and checks the ladder
# of the store's durability order:
#   1. every draft file is fsynced before any blob name is made for it;
#   2. every blob directory that gained a name is fsynced after the names
#      were made and before the commit that records the version;
#   3. that commit's meta page is written last, after LMDB synced the
#      data pages (its O_DSYNC meta write is the moment the seal happened).

import os
import re
import shutil
import subprocess
import time
from os.path import join as pjoin

import pytest

import util

CALL = re.compile(r'^(?:\[pid\s+\d+\]\s+|\d+\s+)?(\w+)\((\d+)<([^>]*)>(.*)$')


def strace_seal(m, vdir):
    return strace_during(m, lambda: util.seal(vdir))


def strace_during(m, action):
    """The daemon's sync and write calls while action() runs, as
    (call, path, rest, fd) tuples in order."""
    log = pjoin(m.tmp, 'strace.log')
    tracer = subprocess.Popen(['strace', '-f', '-y', '-qq', '-o', log, '-e',
                               'trace=fsync,fdatasync,syncfs,linkat,pwrite64,pwritev,'
                               'pwritev2,writev,sync_file_range', '-p', str(m.proc.pid)],
                              stderr=subprocess.DEVNULL)
    try:
        # strace prints nothing when attached with -qq: give it a moment,
        # then prove it is attached by a traced call of the daemon's own.
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            time.sleep(0.2)
            util.write_file(pjoin(m.models, 'probe', 'versions', '0.0.1', 'p'), b'p')
            if os.path.exists(log) and os.path.getsize(log) > 0:
                break
            os.unlink(pjoin(m.models, 'probe', 'versions', '0.0.1', 'p'))
        action()
        time.sleep(0.3)
    finally:
        tracer.terminate()
        tracer.wait(timeout=10)
    calls = []
    with open(log) as fh:
        for line in fh:
            mt = CALL.match(line.strip())
            if mt:
                calls.append((mt.group(1), mt.group(3), mt.group(4), int(mt.group(2))))
    return calls


@pytest.mark.skipif(shutil.which('strace') is None, reason='strace is not installed')
@pytest.mark.engines('lmdb')        # the commit is a write of LMDB's meta page
def test_seal_fsyncs_files_then_names_then_commits(mounted):
    mounted.version('probe', '0.0.1')
    files = {'f%d.bin' % i: os.urandom(100000 + i) for i in range(4)}
    files['sub/g.bin'] = os.urandom(5000)
    vdir = mounted.version('m', '1.0.0', files)
    calls = strace_seal(mounted, vdir)
    store = os.path.realpath(mounted.store)
    drafts, blobs, meta = store + '/drafts/', store + '/blobs', store + '/meta/data.mdb'

    def idx(pred):
        return [i for i, c in enumerate(calls) if pred(c)]

    file_syncs = idx(lambda c: c[0] in ('fsync', 'fdatasync') and c[1].startswith(drafts)
                     and not c[1].endswith('/probe'))
    links = idx(lambda c: c[0] == 'linkat' and blobs in c[2])
    dir_syncs = idx(lambda c: c[0] == 'fsync' and c[1].startswith(blobs))
    meta_writes = idx(lambda c: c[0].startswith('pwrite') and c[1] == meta)
    assert len(file_syncs) >= len(files), calls
    assert len(links) == len(files), calls
    # 1. bytes on disk before any name claims them
    assert max(file_syncs) < min(links)
    # 2. the new names durable before the commit
    after_links = [i for i in dir_syncs if i > max(links)]
    assert after_links, 'no blob directory fsync after the links'
    made = set(c[2].split('"')[-2].split('/')[0] for c in (calls[i] for i in links))
    synced = set(calls[i][1][len(blobs) + 1:] for i in after_links)
    assert made <= synced, (made, synced)
    # 3. the commit (the last meta page write) after all of it
    commit = max(meta_writes)
    assert commit > max(after_links)
    assert any(calls[i][0] in ('fdatasync', 'fsync') and calls[i][1] == meta
               for i in range(max(after_links), commit)), \
        'LMDB did not sync its data pages before the meta page'
    assert util.is_sealed(vdir)


@pytest.mark.skipif(shutil.which('strace') is None, reason='strace is not installed')
@pytest.mark.engines('lmdb')
def test_a_seal_of_many_files_syncs_the_filesystem_once_in_the_same_order(mounted):
    """Many small files: one syncfs() of the drafts' filesystem stands for
    an fsync per file (each a journal commit), and one of the blobs'
    filesystem for the directories, in the same places of the ladder."""
    mounted.version('probe', '0.0.1')
    files = {'d%02d/f%03d' % (i % 40, i): os.urandom(100 + i) for i in range(300)}
    vdir = mounted.version('m', '1.0.0', files)
    calls = strace_seal(mounted, vdir)
    store = os.path.realpath(mounted.store)
    blobs, meta = store + '/blobs', store + '/meta/data.mdb'
    links = [i for i, c in enumerate(calls) if c[0] == 'linkat' and blobs in c[2]]
    syncfs = [i for i, c in enumerate(calls) if c[0] == 'syncfs']
    meta_writes = [i for i, c in enumerate(calls) if c[0].startswith('pwrite') and c[1] == meta]
    assert len(links) == len(files)
    before = [i for i in syncfs if i < min(links)]
    after = [i for i in syncfs if i > max(links)]
    assert before and calls[before[-1]][1].startswith(store + '/drafts/'), calls[:20]
    assert after and calls[after[0]][1] == blobs
    assert max(meta_writes) > after[0]
    # and no fsync per file
    assert sum(1 for c in calls if c[0] == 'fsync' and c[1].startswith(store + '/drafts/')) == 0
    assert util.is_sealed(vdir)


PWRITE = re.compile(r', (\d+), (\d+)\) += ')


@pytest.mark.skipif(shutil.which('strace') is None, reason='strace is not installed')
@pytest.mark.engines('lmdb')
def test_a_promotion_by_ln_sfn_is_one_durable_commit(mounted):
    """ln -sfn links under a temporary name, then renames it onto the alias.
    A crash between the two calls leaves the temporary link, whatever the
    disk kept, so the link's commit syncs LMDB's pages but writes its meta
    page without waiting for the disk (through the descriptor the pages
    go through); the rename's commit is the promotion's one durable commit
    (its meta page through LMDB's O_DSYNC descriptor), and its sync makes
    the link's commit durable too."""
    mounted.version('probe', '0.0.1')
    vdirs = [mounted.version('m', v, {'V': v.encode()}, sealed=True) for v in ('1.0.0', '1.1.0')]
    for vdir in vdirs:
        util.wait_digests(vdir)     # no digest commit of the worker in the trace
    mdir = pjoin(mounted.models, 'm')
    os.symlink('versions/1.0.0', pjoin(mdir, 'production'))
    calls = strace_during(mounted, lambda: util.run(
        ['ln', '-sfn', 'versions/1.1.0', pjoin(mdir, 'production')]))
    meta = os.path.realpath(mounted.store) + '/meta/data.mdb'
    writes = []
    for i, c in enumerate(calls):
        mt = PWRITE.search(c[2]) if c[0].startswith('pwrite') and c[1] == meta else None
        if mt:
            writes.append((i, c[3], int(mt.group(1)), int(mt.group(2))))
    page_fds = {fd for _, fd, size, _ in writes if size >= 4096}
    metas = [(i, fd) for i, fd, size, off in writes if size < 4096 and off < 8192]
    durable = [i for i, fd in metas if fd not in page_fds]
    lazy = [i for i, fd in metas if fd in page_fds]
    assert len(durable) == 1 and len(lazy) == 1, calls
    assert lazy[0] < durable[0]
    syncs = [i for i, c in enumerate(calls) if c[0] == 'fdatasync' and c[1] == meta]
    assert any(s < lazy[0] for s in syncs), 'the link\'s pages were not synced before its meta'
    assert any(lazy[0] < s < durable[0] for s in syncs), \
        'the rename\'s commit did not sync before its meta page'
    assert os.readlink(pjoin(mdir, 'production')) == 'versions/1.1.0'
    assert [n for n in os.listdir(mdir) if n.startswith('Cu')] == []


def test_fsync_of_any_directory_of_the_registry_succeeds(mounted):
    """fsync(2) of a directory makes every change so far durable (a new
    alias's creation among them) and, for a draft's, its names on the
    drafts' filesystem."""
    mounted.version('m', '1.0.0', {'a': b'a'}, sealed=True)
    draft = mounted.version('m', '2.0.0', {'sub/b': b'b'})
    os.symlink('versions/1.0.0', pjoin(mounted.models, 'm', 'canary'))
    for p in (mounted.mnt, mounted.models, pjoin(mounted.models, 'm'),
              pjoin(mounted.models, 'm', 'versions'), pjoin(mounted.models, 'm', 'versions', '1.0.0'),
              draft, pjoin(draft, 'sub')):
        fd = os.open(p, os.O_RDONLY | os.O_DIRECTORY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)
    assert os.readlink(pjoin(mounted.models, 'm', 'canary')) == 'versions/1.0.0'
