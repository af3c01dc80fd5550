#!/usr/bin/env python3
# util.py - helpers for the modelfs integration tests (libfuse's util.py shape)
#
# Everything here drives the real binaries: `modelfs` mounts a store in a
# temporary directory, `modelctl` reads it. Nothing is mocked; assertions name
# errnos. Paths of the binaries come from $MODELFS_BUILD (default
# <repo>/build), so an ASan build is tested with MODELFS_BUILD=build-asan.

import ctypes
import ctypes.util
import errno
import hashlib
import json
import os
import re
import signal
import stat
import subprocess
import time
from os.path import join as pjoin

import pytest

basename = os.path.abspath(pjoin(os.path.dirname(__file__), '..', '..'))
build_dir = os.environ.get('MODELFS_BUILD', pjoin(basename, 'build'))
MODELFS = pjoin(build_dir, 'fs', 'modelfs')
MODELCTL = pjoin(build_dir, 'tools', 'modelctl')

SEAL_XATTR = 'user.modelfs.seal'

# Refusals of writes to `latest`: the contract accepts any of these.
LATEST_REFUSED = (errno.EINVAL, errno.EPERM, errno.EACCES)


# ----------------------------------------------------------------------------
# Mount lifecycle

def wait_for_mount(mount_process, mnt_dir, timeout=15, log_path=None):
    '''Poll until *mnt_dir* is a mount point; fail at once if the daemon exits.'''
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if os.path.ismount(mnt_dir):
            return True
        code = mount_process.poll()
        if code is not None:
            pytest.fail('file system process terminated prematurely '
                        '(exit %s)%s' % (code, _log_tail(log_path)))
        time.sleep(0.05)
    pytest.fail('mountpoint failed to come up' + _log_tail(log_path))


def _log_tail(log_path):
    if not log_path or not os.path.exists(log_path):
        return ''
    with open(log_path, 'rb') as fh:
        data = fh.read()[-4000:]
    return '\ndaemon log:\n' + data.decode('utf-8', 'replace')


def fusermount_u(mnt_dir, lazy=False):
    cmd = ['fusermount3', '-u'] + (['-z'] if lazy else []) + [mnt_dir]
    return subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE)


def umount(mount_process, mnt_dir, timeout=20):
    '''Unmount and require the daemon to exit 0.

    A busy mount (a file handle a failed test leaked) is retried, then
    detached lazily, so a test failure does not cascade into the next test.
    '''
    lazy = False
    for _ in range(20):
        res = fusermount_u(mnt_dir)
        if res.returncode == 0 or not os.path.ismount(mnt_dir):
            break
        time.sleep(0.1)
    else:
        fusermount_u(mnt_dir, lazy=True)
        lazy = True
    assert not os.path.ismount(mnt_dir)
    if mount_process is None:
        return None
    if lazy:
        # Open files keep a lazily detached connection (and the daemon) alive.
        try:
            mount_process.wait(3)
        except subprocess.TimeoutExpired:
            mount_process.kill()
            mount_process.wait()
            pytest.fail('mount still busy at unmount (a file left open?); '
                        'daemon killed')
    try:
        code = mount_process.wait(timeout)
    except subprocess.TimeoutExpired:
        mount_process.kill()
        mount_process.wait()
        pytest.fail('mount process did not terminate')
    if code != 0:
        pytest.fail('file system process terminated with code %s' % (code,))
    return code


def fuse_connection(mnt_dir):
    '''The FUSE connection directory (/sys/fs/fuse/connections/N) of the
    mount at *mnt_dir*, from /proc/self/mountinfo (stat of a hung mount
    could hang), mounting fusectl when needed; None if not found.'''
    mnt_dir = os.path.abspath(mnt_dir)
    dev = None
    with open('/proc/self/mountinfo') as fh:
        for line in fh:
            f = line.split()
            if f[4] == mnt_dir and ' - fuse' in line:
                dev = f[2]
    if dev is None:
        return None
    conns = '/sys/fs/fuse/connections'
    if not os.listdir(conns):
        subprocess.run(['mount', '-t', 'fusectl', 'none', conns], capture_output=True)
    path = pjoin(conns, dev.split(':')[1])
    return path if os.path.isdir(path) else None


def kill_daemon(proc, mnt_dir, timeout=5):
    '''SIGKILL the daemon and wait for it. A daemon killed while the kernel
    delivers one of its cache invalidations keeps the thread that sent it:
    the kernel waits for a directory lock that a request to the dead daemon
    holds, and that request waits for the connection to end. Aborting the
    connection (what an operator does: README, "The daemon") frees both.'''
    proc.send_signal(signal.SIGKILL)
    try:
        return proc.wait(timeout)
    except subprocess.TimeoutExpired:
        conn = fuse_connection(mnt_dir)
        if conn:
            with open(pjoin(conn, 'abort'), 'w') as fh:
                fh.write('1')
        return proc.wait(20)


def cleanup(mount_process, mnt_dir):
    '''Best effort teardown after something already went wrong.'''
    fusermount_u(mnt_dir, lazy=True)
    if mount_process is not None and mount_process.poll() is None:
        mount_process.terminate()
        try:
            mount_process.wait(2)
        except subprocess.TimeoutExpired:
            mount_process.kill()
            mount_process.wait()


def daemon_pids(mnt_dir):
    '''pids of modelfs processes whose command line names *mnt_dir*.'''
    mnt_dir = os.path.abspath(mnt_dir).encode()
    pids = []
    for ent in os.listdir('/proc'):
        if not ent.isdigit():
            continue
        try:
            with open('/proc/%s/cmdline' % ent, 'rb') as fh:
                argv = fh.read().split(b'\0')
        except OSError:
            continue
        if argv and os.path.basename(argv[0]) == b'modelfs' and \
                any(os.path.abspath(a) == mnt_dir for a in argv[1:] if a):
            pids.append(int(ent))
    return pids


def wait_pids_gone(pids, timeout=15):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if not any(os.path.exists('/proc/%d' % p) for p in pids):
            return True
        time.sleep(0.05)
    return False


# ----------------------------------------------------------------------------
# Commands

def run(cmd, check=True, **kw):
    '''Run *cmd*; on failure with check=True, fail showing its output.'''
    kw.setdefault('stdout', subprocess.PIPE)
    kw.setdefault('stderr', subprocess.PIPE)
    kw.setdefault('timeout', 60)
    res = subprocess.run(cmd, **kw)
    if check and res.returncode != 0:
        pytest.fail('%r exited %d\nstdout: %s\nstderr: %s' % (
            cmd, res.returncode, _s(res.stdout), _s(res.stderr)))
    return res


def _s(b):
    if b is None:
        return ''
    return b.decode('utf-8', 'replace') if isinstance(b, bytes) else b


def modelctl(*args, store=None, mnt=None, as_json=False, check=True, env=None):
    '''Run modelctl; returns the CompletedProcess, with .json when as_json.'''
    cmd = [MODELCTL]
    if store is not None:
        cmd += ['-s', str(store)]
    if mnt is not None:
        cmd += ['-m', str(mnt)]
    if as_json:
        cmd.append('--json')
    cmd += [str(a) for a in args]
    full_env = dict(os.environ)
    full_env.pop('MODELFS_STORE', None)
    full_env.pop('MODELFS_MOUNT', None)
    if env:
        full_env.update(env)
    res = run(cmd, check=check, env=full_env)
    if as_json and res.returncode == 0:
        try:
            res.json = json.loads(res.stdout)
        except ValueError as exc:
            pytest.fail('%r printed invalid JSON (%s): %r' % (cmd, exc, res.stdout))
    return res


def xxhsum(path):
    '''XXH3-128 of a file, exactly as `xxhsum -H2` prints it.'''
    res = run(['xxhsum', '-H2', str(path)])
    digest = res.stdout.split()[0].decode()
    assert re.fullmatch(r'[0-9a-f]{32}', digest), res.stdout
    return digest


def xxh_bytes(data, tmpdir):
    p = pjoin(str(tmpdir), '.xxh-%s' % hashlib.sha1(data).hexdigest())
    with open(p, 'wb') as fh:
        fh.write(data)
    try:
        return xxhsum(p)
    finally:
        os.unlink(p)


# ----------------------------------------------------------------------------
# Syscall helpers

def expect_errno(expected, fn, *args, **kw):
    '''Call fn(*args) and require it to fail with one of *expected*.'''
    if isinstance(expected, int):
        expected = (expected,)
    try:
        fn(*args, **kw)
    except OSError as exc:
        assert exc.errno in expected, \
            '%s%r: got %s (%s), expected %s' % (
                getattr(fn, '__name__', fn), args, errno.errorcode.get(exc.errno),
                exc.strerror, '/'.join(errno.errorcode[e] for e in expected))
        return exc
    pytest.fail('%s%r succeeded, expected %s' % (
        getattr(fn, '__name__', fn), args,
        '/'.join(errno.errorcode[e] for e in expected)))


def write_file(path, data, mode=None):
    if isinstance(data, str):
        data = data.encode()
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
    try:
        view = memoryview(data)
        while view:
            n = os.write(fd, view)
            view = view[n:]
    finally:
        os.close(fd)
    if mode is not None:
        os.chmod(path, mode)


def read_file(path):
    with open(path, 'rb') as fh:
        return fh.read()


def read_fd(fd, chunk=1 << 16):
    '''Everything left in descriptor *fd*, read *chunk* bytes at a time
    (small chunks exercise reads at offsets); the caller closes it.'''
    out = bytearray()
    while True:
        b = os.read(fd, chunk)
        if not b:
            return bytes(out)
        out += b


def read_json(path):
    with open(path, 'rb') as fh:
        return json.loads(fh.read())


def seal(version_dir):
    '''Seal, and wait for the daemon's SHA-256 digests (wait_digests).'''
    os.setxattr(version_dir, SEAL_XATTR, b'1')
    wait_digests(version_dir)


def wait_digests(version_dir, tries=1500):
    '''Wait (bounded) until every file of sealed *version_dir* has its
    SHA-256, which the daemon computes after the seal: until then the
    version's metadata.json changes (its "sha256" values), so a test
    comparing snapshots would see a change nobody made.'''
    for dirpath, _dirs, files in os.walk(version_dir):
        for f in files:
            p = pjoin(dirpath, f)
            if dirpath == version_dir and f in ('metadata.json', 'lineage.json'):
                continue
            if not stat.S_ISREG(os.lstat(p).st_mode):
                continue
            for _ in range(tries):
                try:
                    os.getxattr(p, 'user.modelfs.sha256')
                    break
                except OSError as exc:
                    if exc.errno != errno.ENODATA:
                        return
                time.sleep(0.02)
            else:
                pytest.fail('no SHA-256 for %s after %.0f s' % (p, tries * 0.02))


def is_sealed(version_dir):
    '''A sealed version has a virtual metadata.json whose registry says so.'''
    try:
        meta = read_json(pjoin(version_dir, 'metadata.json'))
    except FileNotFoundError:
        return False
    return isinstance(meta.get('registry'), dict) and \
        meta['registry'].get('state') == 'sealed'


def registry(version_dir):
    return read_json(pjoin(version_dir, 'metadata.json'))['registry']


_libc = ctypes.CDLL(ctypes.util.find_library('c'), use_errno=True)
AT_FDCWD = -100
RENAME_NOREPLACE = 1
RENAME_EXCHANGE = 2


def renameat2(old, new, flags):
    '''renameat2(2) via libc; raises OSError with the errno.'''
    fn = _libc.renameat2
    fn.argtypes = [ctypes.c_int, ctypes.c_char_p, ctypes.c_int,
                   ctypes.c_char_p, ctypes.c_uint]
    r = fn(AT_FDCWD, os.fsencode(old), AT_FDCWD, os.fsencode(new), flags)
    if r != 0:
        e = ctypes.get_errno()
        raise OSError(e, os.strerror(e), old, None, new)


def payload(seed, size):
    '''Deterministic pseudo-random bytes.'''
    out = bytearray()
    counter = 0
    while len(out) < size:
        out += hashlib.sha256(b'%s:%d' % (str(seed).encode(), counter)).digest()
        counter += 1
    return bytes(out[:size])


# ----------------------------------------------------------------------------
# Trees

# Virtual files at a version's root: never compared as content.
VFILES = ('metadata.json', 'lineage.json')


def tree(root, modes=True, skip_root_vfiles=False):
    '''Map relpath -> ('d', mode) | ('f', mode, bytes) | ('l', target).'''
    out = {}
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames.sort()
        rel_dir = os.path.relpath(dirpath, root)
        for name in sorted(dirnames + filenames):
            p = pjoin(dirpath, name)
            rel = name if rel_dir == '.' else pjoin(rel_dir, name)
            if skip_root_vfiles and rel in VFILES:
                continue
            st = os.lstat(p)
            m = stat.S_IMODE(st.st_mode) if modes else None
            if stat.S_ISLNK(st.st_mode):
                out[rel] = ('l', os.readlink(p))
            elif stat.S_ISDIR(st.st_mode):
                out[rel] = ('d', m)
            else:
                out[rel] = ('f', m, read_file(p))
    return out


def snapshot(root, exclude=('audit.jsonl', 'index.json')):
    '''Everything a user sees below *root* (types, modes, sizes, bytes, links).

    Used to show that a refused operation changed nothing. Sealed versions
    are taken once their SHA-256 digests are in (wait_digests).
    '''
    for dirpath, dirnames, _files in os.walk(root):
        if os.path.basename(dirpath) != 'versions':
            continue
        for d in dirnames:
            try:
                sealed = os.getxattr(pjoin(dirpath, d), 'user.modelfs.state') == b'sealed'
            except OSError:
                sealed = False
            if sealed:
                wait_digests(pjoin(dirpath, d))
    out = {}
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames.sort()
        for name in sorted(dirnames + filenames):
            if name in exclude:
                continue
            p = pjoin(dirpath, name)
            rel = os.path.relpath(p, root)
            st = os.lstat(p)
            if stat.S_ISLNK(st.st_mode):
                out[rel] = ('l', os.readlink(p))
            elif stat.S_ISDIR(st.st_mode):
                out[rel] = ('d', stat.S_IMODE(st.st_mode), st.st_uid, st.st_gid)
            else:
                data = read_file(p)
                out[rel] = ('f', stat.S_IMODE(st.st_mode), st.st_uid, st.st_gid,
                            st.st_size, hashlib.sha256(data).hexdigest())
    return out


def make_source_tree(root, seed='src', big=256 * 1024):
    '''A small model tree: nested dirs, an empty dir, a relative symlink, a
    hard link, an empty file, a name with a space and UTF-8, a few modes.
    Returns *root*.'''
    os.makedirs(pjoin(root, 'sub', 'deeper'))
    write_file(pjoin(root, 'model.bin'), payload(seed + 'model', big), 0o644)
    write_file(pjoin(root, 'config.yaml'), b'layers: 3\nunits: 64\n', 0o600)
    write_file(pjoin(root, 'run.sh'), b'#!/bin/sh\necho hi\n', 0o755)
    write_file(pjoin(root, 'empty'), b'')
    write_file(pjoin(root, 'sub', 'weights.npy'), payload(seed + 'w', 70000))
    write_file(pjoin(root, 'sub', 'deeper', 'vocab.txt'), b'a\nb\nc\n')
    os.symlink('sub/weights.npy', pjoin(root, 'weights-link'))
    os.symlink('../model.bin', pjoin(root, 'sub', 'up-link'))
    os.link(pjoin(root, 'model.bin'), pjoin(root, 'sub', 'model-hard.bin'))
    os.mkdir(pjoin(root, 'assets'))              # TF SavedModel keeps it empty
    write_file(pjoin(root, 'tokenizer config \u00fc.json'), b'{"lower": true}')
    return root


def blob_files(store):
    '''{hexname: size} for every file under STORE/blobs (but the daemon's
    own .modelfs-probe).'''
    out = {}
    for dirpath, _dirs, files in os.walk(pjoin(str(store), 'blobs')):
        for f in files:
            if f.startswith('.modelfs-'):
                continue
            p = pjoin(dirpath, f)
            out[f] = os.lstat(p).st_size
    return out


def blob_files_in(blobs):
    '''Paths of the blob files (ab/<32 hex>) under a blob directory.'''
    out = []
    for dirpath, _dirs, files in os.walk(blobs):
        out += [pjoin(dirpath, f) for f in files
                if re.fullmatch(r'[0-9a-f]{32}', f) and f[:2] == os.path.basename(dirpath)]
    return out


def rfc3339(s):
    '''Parse an RFC 3339 timestamp string; raise on anything else.'''
    import datetime
    assert isinstance(s, str), s
    assert re.fullmatch(
        r'\d{4}-\d{2}-\d{2}[Tt ]\d{2}:\d{2}:\d{2}(\.\d+)?([Zz]|[+-]\d{2}:\d{2})',
        s), 'not RFC 3339: %r' % s
    s2 = re.sub(r'[Zz]$', '+00:00', s)
    if '.' in s2:
        head, rest = s2.split('.', 1)
        frac = re.match(r'\d+', rest).group(0)
        s2 = head + '.' + frac[:6].ljust(6, '0') + rest[len(frac):]
    return datetime.datetime.fromisoformat(s2.replace('t', 'T'))


# ---- real users (governance tests) ------------------------------------------
# Groups and users made with groupadd/useradd once per machine (they are
# left in place: the next run reuses them). Names carry a prefix so they
# never meet a real account.
TEST_GROUPS = ('mfs_ml', 'mfs_ops', 'mfs_admin')
TEST_USERS = {
    'mfs_alice': ('mfs_ml',),
    'mfs_bob': ('mfs_ml', 'mfs_ops'),
    'mfs_carol': ('mfs_ops',),
    'mfs_dave': (),
    'mfs_erin': ('mfs_admin',),
}


class User:
    def __init__(self, name):
        import grp
        import pwd
        pw = pwd.getpwnam(name)
        self.name = name
        self.uid = pw.pw_uid
        self.gid = pw.pw_gid
        self.groups = [grp.getgrnam(g).gr_gid for g in TEST_USERS[name]]


def make_test_users():
    '''Create the test groups and users if missing; {name: User}.'''
    import grp
    import pwd
    for g in TEST_GROUPS:
        try:
            grp.getgrnam(g)
        except KeyError:
            run(['groupadd', g])
    for name, groups in TEST_USERS.items():
        try:
            pwd.getpwnam(name)
        except KeyError:
            cmd = ['useradd', '-M', '-U', '-s', '/bin/sh', '-d', '/nonexistent']
            if groups:
                cmd += ['-G', ','.join(groups)]
            run(cmd + [name])
    return {name: User(name) for name in TEST_USERS}


def open_path(path):
    '''Let every user traverse to *path* (o+x on it and each ancestor):
    pytest's temporary directories are 0700.'''
    p = os.path.abspath(path)
    while p != '/':
        st = os.stat(p)
        if not st.st_mode & 0o001:
            os.chmod(p, stat.S_IMODE(st.st_mode) | 0o001)
        p = os.path.dirname(p)


def run_as(user, cmd, check=False, **kw):
    '''Run *cmd* as *user* (a User: its uid, primary group and supplementary
    groups, through setpriv). Returns the CompletedProcess.'''
    env = dict(kw.pop('env', None) or os.environ)
    env.update(HOME='/', USER=user.name, LOGNAME=user.name)
    env.pop('MODELFS_STORE', None)
    full = ['setpriv', '--reuid=%d' % user.uid, '--regid=%d' % user.gid,
            '--init-groups', '--'] + [str(c) for c in cmd]
    return run(full, check=check, env=env, **kw)


# ----------------------------------------------------------------------------
# PostgreSQL: a throwaway cluster (tests/pg.sh) for the many-host registry

PG_SH = pjoin(basename, 'tests', 'pg.sh')


def have_postgresql():
    '''Is a PostgreSQL server installed (what tests/pg.sh runs)?'''
    import glob
    return bool(glob.glob('/usr/lib/postgresql/*/bin/initdb'))


class PgCluster:
    '''A PostgreSQL cluster in a mkdtemp() directory under /tmp (the
    postgres user must be able to enter it), run by tests/pg.sh as an
    unprivileged user and listening on a unix socket there only. A guardian
    process outside our process group stops it and removes the directory
    when this process ends, however it ends.'''

    def __init__(self):
        import tempfile
        self.dir = tempfile.mkdtemp(prefix='mfs-pg-', dir='/tmp')
        self._made = 0
        r, w = os.pipe()
        self.guard = subprocess.Popen(
            ['/bin/sh', '-c', 'cat >/dev/null; "$0" stop "$1" immediate >/dev/null 2>&1; '
             'rm -rf "$1"', PG_SH, self.dir],
            stdin=r, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
            start_new_session=True, close_fds=True)
        os.close(r)
        self._guard_fd = w
        self.sh('start')

    def sh(self, *args, check=True):
        res = subprocess.run([PG_SH, args[0], self.dir] + [str(a) for a in args[1:]],
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=120)
        if check and res.returncode != 0:
            pytest.fail('pg.sh %s failed (%d): %s' % (' '.join(args), res.returncode,
                                                      _s(res.stderr)))
        return _s(res.stdout).strip()

    def createdb(self, prefix='reg'):
        '''A new, empty database; returns its URI.'''
        self._made += 1
        return self.sh('createdb', '%s%d_%d' % (prefix, os.getpid(), self._made))

    def dropdb(self, uri):
        '''Drop the database uri names (a test is done with it: hundreds
        of them would fill /tmp).'''
        self.sh('dropdb', self._name(uri))

    @staticmethod
    def _name(uri):
        m = re.search(r"(?:postgresql:///([^?]+))|dbname='([^']+)'", uri)
        return m.group(1) or m.group(2)

    def sql(self, uri, statement):
        '''Run statement in the database uri names (as the superuser).'''
        return self.sh('sql', self._name(uri), statement)

    def stop(self, mode='fast'):
        self.sh('stop', mode)

    def restart(self):
        self.sh('restart')

    def pause(self):
        self.sh('pause')

    def resume(self):
        self.sh('resume')

    def close(self):
        if self._guard_fd is not None:
            self.sh('stop', 'immediate', check=False)
            os.close(self._guard_fd)	# the guardian removes the directory
            self._guard_fd = None
            self.guard.wait(timeout=120)


# ----------------------------------------------------------------------------
# A stopped registry's records, edited from outside (tampering tests)

def rewrite_table(m, table, change):
    '''Apply change(rows) to one table of the registry of Mount m, whose
    daemon is stopped: rows is a list of [key bytes, value bytes] in key
    order, edited in place. LMDB: dumped and loaded again with lmdb-utils;
    PostgreSQL: read and rewritten with SQL. No code of ours is used.'''
    if m.db:
        tid = "(SELECT id FROM mfs_tables WHERE name = '%s')" % table
        out = m.pg.sql(m.db, "SELECT encode(k, 'hex'), encode(v, 'hex') FROM mfs_kv"
                       " WHERE t = %s ORDER BY k" % tid)
        rows = [[bytes.fromhex(k), bytes.fromhex(v)]
                for k, v in (line.split('|') for line in out.splitlines() if line)]
        change(rows)
        values = ','.join("(%s, '\\x%s', '\\x%s')" % (tid, k.hex(), v.hex()) for k, v in rows)
        m.pg.sql(m.db, 'BEGIN; DELETE FROM mfs_kv WHERE t = %s; %s COMMIT;' % (
            tid, 'INSERT INTO mfs_kv (t, k, v) VALUES %s;' % values if rows else ''))
        return
    meta = pjoin(m.store, 'meta')
    # Hex, not -p: lmdb-utils 0.9.24 prints a backslash unescaped there,
    # and mdb_load cannot read its own dump back.
    dump = run(['mdb_dump', '-a', meta]).stdout.decode()
    out, lines, i = [], dump.split('\n'), 0
    while i < len(lines):
        line = lines[i]
        out.append(line)
        i += 1
        if line != 'database=' + table:
            continue
        while lines[i] != 'HEADER=END':
            out.append(lines[i])
            i += 1
        out.append(lines[i])
        i += 1
        rows = []
        while lines[i] != 'DATA=END':
            rows.append([bytes.fromhex(lines[i][1:]), bytes.fromhex(lines[i + 1][1:])])
            i += 2
        change(rows)
        for k, v in rows:
            out.append(' ' + k.hex())
            out.append(' ' + v.hex())
    fresh = pjoin(m.store, 'meta.new')
    os.mkdir(fresh)
    run(['mdb_load', '-f', '/dev/stdin', fresh], input='\n'.join(out).encode())
    import shutil
    shutil.rmtree(meta)
    os.rename(fresh, meta)
