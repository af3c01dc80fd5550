#!/usr/bin/env python3
# test_fsx.py - fsx-style random operations in a draft, against a shadow copy
#
# Each test runs a seeded stream of random operations on the files of one
# draft and, the same operation, on a shadow directory on the local disk:
# pwrite anywhere (1 B .. 256 KiB, across and beyond EOF, leaving holes),
# pread, O_APPEND writes, aligned O_DIRECT reads and writes, truncate by path and by fd, fallocate (plain,
# KEEP_SIZE, punch hole, zero range), copy_file_range, mmap reads and
# MAP_SHARED writes with msync, create/open/close with O_RDONLY, O_WRONLY
# and O_RDWR descriptors (several at once, on several files), renames of
# files and directories, hard links, unlink, mkdir and rmdir. Every call
# must have the same outcome (result or errno) on both sides, every read
# the same bytes; every CHECK_EVERY operations the whole tree (names,
# types, sizes, link counts, bytes) is compared. At the end the draft is
# sealed, compared again, every file's user.modelfs.digest is checked
# against `xxhsum -H2` of its shadow, and after a remount compared again.
#
# The instant-copy variant starts from `cp -r` of a sealed version (every
# draft file a reference to a blob until written) and may also read and
# copy from the sealed files; they must stay byte-identical throughout.
#
# Each test runs with kernel passthrough for draft files (where the kernel
# has it) and with -o nopassthrough (every write through the daemon, which
# hashes in-order writes inline: the digest check covers that hash).
#
# Seeded: MODELFS_FSX_SEED=N replays a run; a failure names its seed, the
# operation number and the last operations. MODELFS_LONG=1 runs 50,000
# operations per test instead of 3,000.

import collections
import ctypes
import faulthandler
import mmap
import os
import pickle
import random
import signal
import stat
import subprocess
from os.path import join as pjoin

import pytest

import util

LONG = os.environ.get('MODELFS_LONG') == '1'
OPS = 50000 if LONG else 3000
CHECK_EVERY = 500 if LONG else 150
MAX_IO = 256 << 10          # largest single write, read, copy or fallocate
MAX_SIZE = 1 << 20          # writes start below this, so files stay small
MAX_FDS = 8
MAX_FILES = 14
MAX_DIRS = 6
MAX_DEPTH = 3

MOUNT, SHADOW = 0, 1

FALLOC_FL_KEEP_SIZE = 0x01
FALLOC_FL_PUNCH_HOLE = 0x02
FALLOC_FL_ZERO_RANGE = 0x10
FALLOC_MODES = (0, FALLOC_FL_KEEP_SIZE, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE,
                FALLOC_FL_ZERO_RANGE, FALLOC_FL_ZERO_RANGE | FALLOC_FL_KEEP_SIZE)

_libc = ctypes.CDLL(None, use_errno=True)
_libc.fallocate.argtypes = [ctypes.c_int, ctypes.c_int, ctypes.c_int64, ctypes.c_int64]


def fallocate(fd, mode, off, length):
    if _libc.fallocate(fd, mode, off, length) != 0:
        e = ctypes.get_errno()
        raise OSError(e, os.strerror(e))


def fsx_seed(default):
    env = os.environ.get('MODELFS_FSX_SEED')
    return int(env) if env else default


def full_pwrite(fd, data, off):
    view = memoryview(data)
    done = 0
    while done < len(view):
        done += os.pwrite(fd, view[done:], off + done)
    return done


def full_pread(fd, n, off):
    out = b''
    while len(out) < n:
        chunk = os.pread(fd, n - len(out), off + len(out))
        if not chunk:
            break
        out += chunk
    return out


def full_copy(fin, fout, count, off_in, off_out):
    done = 0
    while done < count:
        n = os.copy_file_range(fin, fout, count - done, off_in + done, off_out + done)
        if n == 0:
            break
        done += n
    return done


def mmap_read(fd, off, n):
    mm = mmap.mmap(fd, off + n, mmap.MAP_SHARED, mmap.PROT_READ)
    try:
        return mm[off:off + n]
    finally:
        mm.close()


def mmap_write(fd, off, data):
    '''MAP_SHARED write of data at off, then msync(MS_SYNC).'''
    page = off & ~(mmap.PAGESIZE - 1)
    mm = mmap.mmap(fd, off + len(data) - page, mmap.MAP_SHARED,
                   mmap.PROT_READ | mmap.PROT_WRITE, offset=page)
    try:
        mm[off - page:off - page + len(data)] = data
        mm.flush()
    finally:
        mm.close()


class Signalled(Exception):
    pass


def in_child(fn, *args):
    '''fn(*args) in a forked child, so that a SIGBUS of a mapping of the
    mount fails the test instead of killing pytest. Returns what fn
    returned, raises the OSError it raised, or Signalled.'''
    r, w = os.pipe()
    pid = os.fork()
    if pid == 0:
        try:
            faulthandler.disable()      # the parent reports the signal
            os.close(r)
            try:
                out = ('ok', fn(*args))
            except OSError as exc:
                out = ('err', exc.errno)
            with os.fdopen(w, 'wb') as fh:
                pickle.dump(out, fh)
        finally:
            os._exit(0)
    os.close(w)
    with os.fdopen(r, 'rb') as fh:
        data = fh.read()
    _, status = os.waitpid(pid, 0)
    if os.WIFSIGNALED(status):
        raise Signalled('killed by %s' % signal.Signals(os.WTERMSIG(status)).name)
    kind, val = pickle.loads(data)
    if kind == 'err':
        raise OSError(val, os.strerror(val))
    return val


def on_both(fn):
    '''fn(side) as dual() wants it, the mount's side in a child.'''
    return lambda side: fn(side) if side == SHADOW else in_child(fn, side)


def first_difference(a, b):
    for i in range(min(len(a), len(b))):
        if a[i] != b[i]:
            return i
    return min(len(a), len(b))


def describe_difference(what, got, want):
    i = first_difference(got, want)
    return '%s: %d bytes through the mount, %d in the shadow; first difference ' \
           'at byte %d (mount %r, shadow %r)' % (
               what, len(got), len(want), i, got[i:i + 16], want[i:i + 16])


def listing(root, skip_vfiles):
    '''{relpath: lstat} of everything below root.'''
    out = {}
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames.sort()
        for name in dirnames + filenames:
            p = pjoin(dirpath, name)
            rel = os.path.relpath(p, root)
            if skip_vfiles and rel in util.VFILES:
                continue
            out[rel] = os.lstat(p)
    return out


class Open:
    '''One file opened on both sides with the same flags.'''

    def __init__(self, name, flags, fds, source=False):
        self.name = name
        self.flags = flags
        self.fd = fds
        self.source = source    # a sealed file: read only

    def readable(self):
        return (self.flags & os.O_ACCMODE) != os.O_WRONLY

    def writable(self):
        return (self.flags & os.O_ACCMODE) != os.O_RDONLY

    def appends(self):
        return bool(self.flags & os.O_APPEND)

    def __str__(self):
        mode = {os.O_RDONLY: 'r', os.O_WRONLY: 'w', os.O_RDWR: 'rw'}[self.flags & os.O_ACCMODE]
        return '%s[%s%s fd %d]' % (self.name, mode, 'a' if self.appends() else '',
                                   self.fd[MOUNT])


class Fsx:
    '''The exerciser: one draft (mroot) and its shadow (sroot).

    sources: [(mount path, shadow path)] of sealed files the run may open
    read-only, read and copy from; they must never change.
    draft_readers: open draft files O_RDONLY too (False: O_RDWR instead,
    around the bug test_a_reader_of_an_instant_copy_sees_later_changes
    shows).
    '''

    WEIGHTS = {
        'pwrite': 20, 'extend': 6, 'append': 5, 'read': 14, 'mmap_read': 4,
        'mmap_write': 4, 'truncate': 3, 'ftruncate': 3, 'fallocate': 5,
        'copy_range': 4, 'copy_whole': 3, 'create': 4, 'open': 6, 'open_source': 1,
        'close': 6, 'rename_file': 3, 'rename_dir': 1, 'link': 2, 'unlink': 2,
        'mkdir': 1, 'rmdir': 1, 'fsync': 1, 'fstat': 3, 'drop_cache': 3, 'direct': 2,
    }

    def __init__(self, mroot, sroot, seed, sources=(), draft_readers=True):
        self.root = (mroot, sroot)
        self.draft_readers = draft_readers
        self.seed = seed
        self.rng = random.Random(seed)
        self.sources = list(sources)
        self.source_bytes = {m: util.read_file(s) for m, s in self.sources}
        self.fds = []
        self.log = collections.deque(maxlen=40)
        self.counts = collections.Counter()
        self.errors = collections.Counter()
        self.nops = 0
        self.serial = 0
        self.sealed = False
        self.ops = sorted(self.WEIGHTS)
        self.weights = [self.WEIGHTS[o] for o in self.ops]
        self.refresh()

    # -- bookkeeping -----------------------------------------------------
    def fail(self, msg):
        raise AssertionError(
            'fsx seed %d (MODELFS_FSX_SEED=%d replays it), op %d: %s\nlast operations:\n  %s'
            % (self.seed, self.seed, self.nops, msg, '\n  '.join(self.log)))

    def check(self, cond, msg):
        if not cond:
            self.fail(msg)

    def note(self, fmt, *args):
        self.log.append('%d %s' % (self.nops, fmt % args))

    def path(self, side, rel):
        return pjoin(self.root[side], rel)

    def refresh(self):
        '''The shadow's files and directories (the draft must match).'''
        files, dirs = [], ['']
        for dirpath, dirnames, filenames in os.walk(self.root[SHADOW]):
            dirnames.sort()
            rel = os.path.relpath(dirpath, self.root[SHADOW])
            rel = '' if rel == '.' else rel
            dirs += [pjoin(rel, d) for d in dirnames]
            files += [pjoin(rel, f) for f in sorted(filenames)]
        self.files, self.dirs = files, dirs

    def new_name(self, prefix):
        self.serial += 1
        flavour = self.rng.choice(('%s%d', '%s%d.bin', '%s %d.npy', '%s-\u00fc%d'))
        return flavour % (prefix, self.serial)

    def new_path(self, prefix, parent=None):
        if parent is None:
            parent = self.rng.choice(self.dirs)
        return pjoin(parent, self.new_name(prefix))

    def size(self, o):
        return os.fstat(o.fd[SHADOW]).st_size

    def io_size(self):
        return max(1, min(MAX_IO, int(2 ** self.rng.uniform(0, 18))))

    def pick(self, items):
        return self.rng.choice(items) if items else None

    def pick_fd(self, read=False, write=False, append=None):
        fds = [o for o in self.fds
               if (not read or o.readable()) and (not write or o.writable()) and
               (append is None or o.appends() == append)]
        return self.pick(fds)

    def dual(self, what, fn):
        '''fn(side) on the shadow, then on the mount: the same outcome.'''
        out = []
        for side in (SHADOW, MOUNT):
            try:
                out.append((fn(side), None))
            except OSError as exc:
                out.append((None, exc.errno))
            except Signalled as exc:
                self.fail('%s through the mount: %s' % (what, exc))
        (rs, es), (rm, em) = out
        if es:
            self.errors[os.strerror(es)] += 1
        if es != em:
            self.fail('%s: shadow %s, mount %s' % (
                what, 'errno %s' % os.strerror(es) if es else 'ok',
                'errno %s' % os.strerror(em) if em else 'ok'))
        if isinstance(rs, bytes):
            if rs != rm:
                self.fail(describe_difference(what, rm, rs))
        elif rs != rm:
            self.fail('%s returned %r through the mount, %r in the shadow' % (what, rm, rs))
        return rm, em

    # -- descriptors -----------------------------------------------------
    def open_both(self, rel, flags, mode=0o644):
        fds = [None, None]

        def do(side):
            fds[side] = os.open(self.path(side, rel), flags, mode)

        _, err = self.dual('open(%r, %#o)' % (rel, flags), do)
        if err:
            return None
        o = Open(rel, flags, fds)
        self.fds.append(o)
        return o

    def close(self, o):
        self.fds.remove(o)
        self.note('close %s', o)
        self.dual('close %s' % o, lambda side: os.close(o.fd[side]))

    def close_all(self):
        for o in self.fds:
            for fd in o.fd:
                try:
                    os.close(fd)
                except OSError:
                    pass
        self.fds = []

    def make_room(self):
        while len(self.fds) >= MAX_FDS:
            self.close(self.rng.choice(self.fds))

    def random_flags(self):
        acc = self.rng.choices((os.O_RDONLY, os.O_WRONLY, os.O_RDWR), (7, 5, 8))[0]
        if acc == os.O_RDONLY and not self.draft_readers:
            acc = os.O_RDWR
        flags = acc
        if acc != os.O_RDONLY:
            if self.rng.random() < 0.2:
                flags |= os.O_APPEND
            if self.rng.random() < 0.05:
                flags |= os.O_TRUNC
        return flags

    # -- operations ------------------------------------------------------
    def op_create(self):
        if len(self.files) >= MAX_FILES:
            return self.op_unlink()
        self.make_room()
        rel = self.new_path('f')
        flags = self.random_flags()
        if (flags & os.O_ACCMODE) == os.O_RDONLY:
            flags = os.O_WRONLY
        flags |= os.O_CREAT | os.O_EXCL
        self.note('create %r %#o', rel, flags)
        self.open_both(rel, flags)
        self.refresh()

    def op_open(self):
        rel = self.pick(self.files)
        if rel is None:
            return self.op_create()
        self.make_room()
        flags = self.random_flags()
        self.note('open %r %#o', rel, flags)
        self.open_both(rel, flags)

    def op_open_source(self):
        if not self.sources:
            return self.op_open()
        self.make_room()
        mpath, spath = self.rng.choice(self.sources)
        self.note('open source %r', mpath)
        fds = [os.open(mpath, os.O_RDONLY), os.open(spath, os.O_RDONLY)]
        self.fds.append(Open(os.path.relpath(mpath, os.path.dirname(self.root[MOUNT])),
                             os.O_RDONLY, fds, source=True))

    def op_close(self):
        o = self.pick(self.fds)
        if o is None:
            return self.op_open()
        self.close(o)

    def op_pwrite(self, extend=False):
        o = self.pick_fd(write=True, append=False)
        if o is None:
            return self.op_open()
        size = self.size(o)
        n = self.io_size()
        if extend:
            off = size if size < MAX_SIZE else self.rng.randrange(MAX_SIZE)
        else:
            off = self.rng.randrange(min(size, MAX_SIZE) + MAX_IO)
        data = self.rng.randbytes(n)
        self.note('pwrite %s off %d len %d (size %d)', o, off, n, size)
        self.dual('pwrite %s' % o, lambda side: full_pwrite(o.fd[side], data, off))

    def op_extend(self):
        '''Sequential writes at EOF: the daemon hashes these inline.'''
        self.op_pwrite(extend=True)

    def op_append(self):
        o = self.pick_fd(write=True, append=True)
        if o is None or self.size(o) > MAX_SIZE:
            return self.op_open()
        data = self.rng.randbytes(self.io_size())
        self.note('append %s len %d', o, len(data))
        self.dual('O_APPEND write %s' % o, lambda side: os.write(o.fd[side], data))

    def op_read(self):
        o = self.pick_fd(read=True)
        if o is None:
            return self.op_open()
        size = self.size(o)
        off = self.rng.randrange(size + 4096)
        n = self.io_size()
        self.note('pread %s off %d len %d (size %d)', o, off, n, size)
        self.dual('pread %s off %d len %d' % (o, off, n),
                  lambda side: full_pread(o.fd[side], n, off))

    def op_mmap_read(self):
        o = self.pick_fd(read=True)
        if o is None or self.size(o) == 0:
            return self.op_read()
        size = self.size(o)
        off = self.rng.randrange(size) & ~(mmap.PAGESIZE - 1)
        n = self.rng.randint(1, min(size - off, MAX_IO))
        self.note('mmap read %s off %d len %d', o, off, n)
        self.dual('mmap read %s off %d len %d' % (o, off, n),
                  on_both(lambda side: mmap_read(o.fd[side], off, n)))

    def op_mmap_write(self):
        o = self.pick_fd(read=True, write=True)
        if o is None or self.size(o) == 0:
            return self.op_pwrite()
        size = self.size(o)
        start = self.rng.randrange(size)
        n = self.rng.randint(1, min(size - start, MAX_IO))
        data = self.rng.randbytes(n)
        self.note('mmap write %s off %d len %d', o, start, n)
        self.dual('MAP_SHARED write + msync %s' % o,
                  on_both(lambda side: mmap_write(o.fd[side], start, data)))

    def new_size(self, size):
        r = self.rng.random()
        if r < 0.1:
            return 0
        if r < 0.55:
            return self.rng.randint(0, size)
        return min(size, MAX_SIZE) + self.rng.randint(1, MAX_IO)

    def op_truncate(self):
        rel = self.pick(self.files)
        if rel is None:
            return self.op_create()
        size = os.stat(self.path(SHADOW, rel)).st_size
        new = self.new_size(size)
        self.note('truncate %r %d -> %d', rel, size, new)
        self.dual('truncate %r to %d' % (rel, new),
                  lambda side: os.truncate(self.path(side, rel), new))

    def op_ftruncate(self):
        o = self.pick_fd(write=True)
        if o is None:
            return self.op_truncate()
        size = self.size(o)
        new = self.new_size(size)
        self.note('ftruncate %s %d -> %d', o, size, new)
        self.dual('ftruncate %s to %d' % (o, new), lambda side: os.ftruncate(o.fd[side], new))

    def op_fallocate(self):
        o = self.pick_fd(write=True)
        if o is None:
            return self.op_open()
        size = self.size(o)
        mode = self.rng.choice(FALLOC_MODES)
        off = self.rng.randrange(min(size, MAX_SIZE) + MAX_IO)
        n = self.io_size()
        self.note('fallocate %s mode %#x off %d len %d (size %d)', o, mode, off, n, size)
        self.dual('fallocate %s mode %#x off %d len %d' % (o, mode, off, n),
                  lambda side: fallocate(o.fd[side], mode, off, n))

    def op_copy_range(self):
        src = self.pick_fd(read=True)
        dst = self.pick_fd(write=True, append=False)
        if src is None or dst is None:
            return self.op_open()
        ssize, dsize = self.size(src), self.size(dst)
        off_in = self.rng.randrange(ssize + 1)
        off_out = self.rng.randrange(min(dsize, MAX_SIZE) + MAX_IO)
        n = self.io_size()
        same = os.fstat(src.fd[SHADOW]).st_ino == os.fstat(dst.fd[SHADOW]).st_ino
        if same and off_in < off_out + n and off_out < off_in + n:
            return self.op_read()   # overlapping ranges of one file: EINVAL
        self.note('copy_file_range %s off %d -> %s off %d len %d', src, off_in, dst, off_out, n)
        self.dual('copy_file_range %s -> %s' % (src, dst),
                  lambda side: full_copy(src.fd[side], dst.fd[side], n, off_in, off_out))

    def op_copy_whole(self):
        '''What cp does: a whole file into a new empty one (instant from a
        sealed file or a reference); the new file stays open.'''
        src = self.pick_fd(read=True)
        if src is None or len(self.files) >= MAX_FILES:
            return self.op_open()
        self.make_room()
        rel = self.new_path('c')
        dst = self.open_both(rel, os.O_WRONLY | os.O_CREAT | os.O_EXCL)
        self.refresh()
        if dst is None:
            return
        n = self.size(src) + self.rng.choice((0, 1, 1 << 30))
        self.note('copy whole %s -> %s (count %d)', src, dst, n)
        self.dual('copy_file_range %s -> new %s' % (src, dst),
                  lambda side: full_copy(src.fd[side], dst.fd[side], n, 0, 0))
        if self.rng.random() < 0.5:
            self.close(dst)     # as cp does: the copy stays a reference

    def op_direct(self):
        '''One aligned O_DIRECT pwrite or pread through a descriptor of its
        own, beside the cached ones.'''
        rel = self.pick(self.files)
        if rel is None:
            return self.op_create()
        size = os.stat(self.path(SHADOW, rel)).st_size
        off = self.rng.randrange((min(size, MAX_SIZE) + MAX_IO) // 4096) * 4096
        n = self.rng.randint(1, 16) * 4096
        buf = mmap.mmap(-1, n)      # page-aligned, as O_DIRECT wants
        write = self.rng.random() < 0.5
        if write:
            buf.write(self.rng.randbytes(n))
        self.note('O_DIRECT %s %r off %d len %d (size %d)', 'pwrite' if write else 'pread',
                  rel, off, n, size)

        def do(side):
            fd = os.open(self.path(side, rel), os.O_RDWR | os.O_DIRECT)
            try:
                if write:
                    return os.pwritev(fd, [buf], off)
                out = mmap.mmap(-1, n)
                got = os.preadv(fd, [out], off)
                return out[:got]
            finally:
                os.close(fd)

        self.dual('O_DIRECT on %r' % rel, do)

    def op_fsync(self):
        o = self.pick_fd(write=True)
        if o is None:
            return self.op_open()
        self.note('fsync %s', o)
        self.dual('fsync %s' % o, lambda side: os.fsync(o.fd[side]))

    def op_drop_cache(self):
        '''Drop the file's clean cached pages: the next read asks the daemon.'''
        o = self.pick(self.fds)
        if o is None:
            return self.op_open()
        self.note('fadvise DONTNEED %s', o)
        self.dual('posix_fadvise(DONTNEED) %s' % o,
                  lambda side: os.posix_fadvise(o.fd[side], 0, 0, os.POSIX_FADV_DONTNEED))

    def op_fstat(self):
        o = self.pick(self.fds)
        if o is None:
            return self.op_open()
        self.dual('fstat %s (size, links)' % o,
                  lambda side: (os.fstat(o.fd[side]).st_size, os.fstat(o.fd[side]).st_nlink))

    def tree_op(self, what, fn, *rels):
        '''A change of names (fn takes paths): then refresh the lists.'''
        self.note('%s %s', what, ' -> '.join(map(repr, rels)))
        self.dual('%s %s' % (what, ' -> '.join(map(repr, rels))),
                  lambda side: fn(*[self.path(side, r) for r in rels]))
        self.refresh()

    def op_rename_file(self):
        rel = self.pick(self.files)
        if rel is None:
            return self.op_create()
        if self.rng.random() < 0.3:
            dst = self.rng.choice(self.files)   # replaces it (or is a no-op)
        else:
            dst = self.new_path('r')
        self.tree_op('rename', os.rename, rel, dst)

    def op_rename_dir(self):
        src = self.pick(self.dirs[1:])
        if src is None:
            return self.op_mkdir()
        parents = [d for d in self.dirs if d != src and not d.startswith(src + '/')]
        empty = [d for d in parents[1:]
                 if not os.listdir(self.path(SHADOW, d)) and not src.startswith(d + '/')]
        if empty and self.rng.random() < 0.25:
            dst = self.rng.choice(empty)        # rename(2) onto an empty directory
        else:
            parent = self.rng.choice(parents)
            if parent.count('/') + src.count('/') + 2 > MAX_DEPTH + 1:
                parent = ''
            dst = self.new_path('D', parent)
        self.tree_op('rename dir', os.rename, src, dst)

    def op_link(self):
        rel = self.pick(self.files)
        if rel is None or len(self.files) >= MAX_FILES:
            return self.op_open()
        dst = self.new_path('h')
        self.tree_op('link', os.link, rel, dst)

    def op_unlink(self):
        rel = self.pick(self.files)
        if rel is None:
            return self.op_create()
        self.tree_op('unlink', os.unlink, rel)

    def op_mkdir(self):
        parents = [d for d in self.dirs if d.count('/') + 1 < MAX_DEPTH]
        if len(self.dirs) > MAX_DIRS:
            return self.op_rmdir()
        rel = self.new_path('d', self.rng.choice(parents))
        self.tree_op('mkdir', os.mkdir, rel)

    def op_rmdir(self):
        rel = self.pick(self.dirs[1:])
        if rel is None:
            return self.op_mkdir()
        self.tree_op('rmdir', os.rmdir, rel)

    # -- whole-tree checks -----------------------------------------------
    def verify(self):
        for o in self.fds:
            self.check_size(o)
        mine = listing(self.root[MOUNT], skip_vfiles=True)
        want = listing(self.root[SHADOW], skip_vfiles=False)
        if sorted(mine) != sorted(want):
            self.fail('names differ: only through the mount %s, only in the shadow %s' % (
                sorted(set(mine) - set(want)), sorted(set(want) - set(mine))))
        for rel in sorted(want):
            m, s = mine[rel], want[rel]
            self.check(stat.S_IFMT(m.st_mode) == stat.S_IFMT(s.st_mode),
                       '%r: mode %o through the mount, %o in the shadow' % (
                           rel, m.st_mode, s.st_mode))
            if not stat.S_ISREG(s.st_mode):
                continue
            self.check(m.st_size == s.st_size, '%r: size %d through the mount, %d in the shadow'
                       % (rel, m.st_size, s.st_size))
            if not self.sealed:
                self.check(m.st_nlink == s.st_nlink,
                           '%r: %d links through the mount, %d in the shadow'
                           % (rel, m.st_nlink, s.st_nlink))
            got = util.read_file(self.path(MOUNT, rel))
            exp = util.read_file(self.path(SHADOW, rel))
            if got != exp:
                self.fail(describe_difference('whole-file read of %r' % rel, got, exp))
        for mpath, data in self.source_bytes.items():
            got = util.read_file(mpath)
            if got != data:
                self.fail(describe_difference('sealed source %r' % mpath, got, data))

    def check_size(self, o):
        self.dual('fstat %s (size)' % o, lambda side: os.fstat(o.fd[side]).st_size)

    def run(self, nops, check_every=CHECK_EVERY):
        for _ in range(nops):
            self.nops += 1
            op = self.rng.choices(self.ops, self.weights)[0]
            self.counts[op] += 1
            getattr(self, 'op_' + op)()
            if self.nops % check_every == 0:
                self.verify()
        while self.fds:
            self.close(self.fds[-1])
        self.verify()

    def seal_and_check(self, mounted, vdir):
        '''Seal the draft; same tree, digests of the shadow's bytes, and
        the same again after a remount.'''
        assert not self.fds
        if not self.files:
            util.write_file(self.path(SHADOW, 'last.bin'), b'last')
            util.write_file(self.path(MOUNT, 'last.bin'), b'last')
            self.refresh()
        # Readers opened before the seal read the same bytes after it.
        readers = [self.open_both(rel, os.O_RDONLY)
                   for rel in self.rng.sample(self.files, min(3, len(self.files)))]
        self.note('seal')
        util.seal(vdir)
        self.sealed = True
        assert util.is_sealed(vdir)
        for o in readers:
            self.dual('pread after the seal through %s, opened before it' % o,
                      lambda side: full_pread(o.fd[side], 2 * MAX_SIZE, 0))
            self.close(o)
        self.verify()
        for rel in self.files:
            want = util.xxhsum(self.path(SHADOW, rel))
            got = os.getxattr(self.path(MOUNT, rel), 'user.modelfs.digest').decode()
            self.check(got == want, '%r: user.modelfs.digest %s, xxhsum -H2 of the shadow %s'
                       % (rel, got, want))
        mounted.remount()
        self.note('remount')
        self.verify()


def run_fsx(mounted, vdir, seed, sources=(), draft_readers=True):
    shadow = pjoin(mounted.tmp, 'shadow')
    if not os.path.isdir(shadow):
        os.mkdir(shadow)
    fsx = Fsx(vdir, shadow, seed, sources, draft_readers)
    print('fsx seed %d, %d operations (MODELFS_FSX_SEED=%d replays it)' % (seed, OPS, seed))
    try:
        fsx.run(OPS)
        fsx.seal_and_check(mounted, vdir)
    finally:
        fsx.close_all()     # a failure must not leave the mount busy
    print('fsx operations: %s' % dict(sorted(fsx.counts.items())))
    print('fsx errors (the same on both sides): %s' % dict(fsx.errors))
    return fsx


PASSTHROUGH = [pytest.param(None, id='passthrough'),
               pytest.param(None, id='nopassthrough',
                            marks=pytest.mark.mount_options('nopassthrough'))]


@pytest.mark.parametrize('mode', PASSTHROUGH)
def test_fsx_in_a_draft(mounted, mode):
    vdir = mounted.version('fsx', '1.0.0')
    run_fsx(mounted, vdir, fsx_seed(20261201))


SOURCE = {
    'model.bin': 1 << 20,
    'config.json': 23,
    'sub/weights.npy': 300000,
    'sub/deeper/vocab.txt': 4097,
    'empty': 0,
}


def instant_copy(mounted, seed):
    '''Seals fsx@1.0.0 with files of SOURCE's sizes, copies it with `cp -r`
    into draft 1.1.0 (every file a reference) and lays out the shadows.
    Returns (draft, [(sealed file, its shadow)], {relpath: bytes}).'''
    files = {rel: random.Random('%d %s' % (seed, rel)).randbytes(n)
             for rel, n in SOURCE.items()}
    src = mounted.version('fsx', '1.0.0', files, sealed=True)
    dst = pjoin(mounted.models, 'fsx', 'versions', '1.1.0')
    subprocess.run(['cp', '-r', src, dst], check=True)
    shadow, shadow_src = pjoin(mounted.tmp, 'shadow'), pjoin(mounted.tmp, 'shadow-src')
    sources = []
    for rel, data in files.items():
        for root in (shadow, shadow_src):
            os.makedirs(os.path.dirname(pjoin(root, rel)), exist_ok=True)
            util.write_file(pjoin(root, rel), data)
        sources.append((pjoin(src, rel), pjoin(shadow_src, rel)))
    return dst, sources, files


# A reader of an instant copy once kept reading the blob after the file
# changed (stale bytes, short reads, SIGBUS in a mapping, copy_file_range
# copying the blob): seed 3 met it at operation 36 of the rdonly run.


@pytest.mark.parametrize('mode', PASSTHROUGH)
@pytest.mark.parametrize('draft_readers,seed', [
    pytest.param(True, 3, id='rdonly'),
    pytest.param(False, 20261202, id='rdwr')])
def test_fsx_in_an_instant_copy(mounted, mode, draft_readers, seed):
    seed = fsx_seed(seed)
    dst, sources, files = instant_copy(mounted, seed)
    run_fsx(mounted, dst, seed, sources, draft_readers)
    for mpath, spath in sources:
        assert util.read_file(mpath) == util.read_file(spath), mpath


@pytest.mark.parametrize('mode', PASSTHROUGH)
def test_a_reader_of_an_instant_copy_sees_later_changes(mounted, mode):
    '''The minimal case of the fsx find: open a reference O_RDONLY, change
    the file (by path, then through a writer), read through the reader.'''
    dst, sources, files = instant_copy(mounted, 1)
    p = pjoin(dst, 'config.json')
    r = os.open(p, os.O_RDONLY)
    try:
        assert os.pread(r, 100, 0) == files['config.json']
        os.truncate(p, 0)
        util.write_file(p, b'{"new": true}')
        assert os.fstat(r).st_size == 13
        assert os.pread(r, 100, 0) == b'{"new": true}'
    finally:
        os.close(r)


@pytest.mark.parametrize('mode', PASSTHROUGH)
def test_a_mapping_of_an_instant_copy_after_it_grew(mounted, mode):
    '''The same reader maps the file after truncate(2) made it longer than
    the blob: the new tail must read as zeros, not raise SIGBUS.'''
    dst, sources, files = instant_copy(mounted, 1)
    p = pjoin(dst, 'sub', 'weights.npy')
    size = len(files['sub/weights.npy'])
    r = os.open(p, os.O_RDONLY)
    try:
        os.truncate(p, size + 65536)
        got = in_child(mmap_read, r, size - 10, 4096)
        assert got == files['sub/weights.npy'][-10:] + bytes(4086)
    finally:
        os.close(r)
