#!/usr/bin/env python3
# test_multihost.py - one registry on many hosts: PostgreSQL + shared blobs
#
# Two daemons stand for two hosts: each has its own store= (drafts, lock,
# logs) and mount point; they share one PostgreSQL database (a cluster the
# session starts, tests/pg.sh) and one blob directory on another filesystem
# (a tmpfs we mount), so seals cross filesystems as they do onto NFS.

import errno
import json
import os
import subprocess
import threading
import time
from os.path import join as pjoin

import pytest

import util
from conftest import Mount, TEST_TIMEOUT

pytestmark = pytest.mark.skipif(not util.have_postgresql(),
                                reason='needs a PostgreSQL server (apt-get install postgresql)')


class Hosts:
    def __init__(self, tmp, db, shared, checker, pg):
        self.tmp = tmp
        self.db = db
        self.pg = pg
        self.shared = shared
        self.blobs = pjoin(shared, 'blobs')
        self.checker = checker
        self.hosts = []

    def start(self, name, *options):
        d = pjoin(self.tmp, name)
        os.mkdir(d)
        m = Mount(d, ['blobs=' + self.blobs] + list(options), self.checker, db=self.db,
                  pg=self.pg)
        m.start()
        self.hosts.append(m)
        return m

    def stop(self):
        for m in self.hosts:
            m.stop()


def tmpfs(path):
    os.makedirs(path)
    util.run(['mount', '-t', 'tmpfs', '-o', 'size=512m,mode=0755', 'tmpfs', path])


LEASE = 2      # MODELFS_LEASE_SECONDS: a dead host's row expires this soon


@pytest.fixture()
def hosts(request, tmp_path, pg_cluster, output_checker, monkeypatch):
    '''Hosts a and b, started, on one database and one tmpfs of blobs.'''
    monkeypatch.setenv('MODELFS_LEASE_SECONDS', str(LEASE))
    shared = pjoin(str(tmp_path), 'shared')
    tmpfs(shared)
    h = Hosts(str(tmp_path), pg_cluster.createdb('mh'), shared, output_checker, pg_cluster)
    watchdog = threading.Timer(TEST_TIMEOUT, lambda: [m.kill() for m in h.hosts])
    watchdog.daemon = True
    watchdog.start()
    try:
        h.start('a')
        h.start('b')
        yield h
        watchdog.cancel()
        h.stop()
        for m in h.hosts:
            res = util.modelctl('fsck', store=m.store, check=False)
            assert res.returncode == 0, 'fsck of %s: %s%s' % (
                m.store, util._s(res.stdout), util._s(res.stderr))
    finally:
        watchdog.cancel()
        for m in h.hosts:
            if m.proc is not None:
                print('---- daemon log (%s) ----\n%s' % (m.log_path, m.log()[-4000:]))
                util.cleanup(m.proc, m.mnt)
                m.proc = None
        util.run(['umount', '-l', shared], check=False)


def until(pred, timeout=5.0, step=0.01):
    '''Wait until pred() is true (returns how long it took) or fail.'''
    t0 = time.monotonic()
    while True:
        v = pred()
        if v:
            return time.monotonic() - t0
        if time.monotonic() - t0 > timeout:
            pytest.fail('not true within %.1f s' % timeout)
        time.sleep(step)


def listdir(p):
    try:
        return sorted(os.listdir(p))
    except (FileNotFoundError, OSError):
        return None


def test_a_version_sealed_on_one_host_is_read_on_the_other(hosts, tmp_path):
    a, b = hosts.hosts
    src = util.make_source_tree(pjoin(str(tmp_path), 'src'))
    a.model('churn')
    subprocess.run(['cp', '-r', src, pjoin(a.models, 'churn', 'versions', '1.3.0')], check=True)
    util.seal(pjoin(a.models, 'churn', 'versions', '1.3.0'))

    vb = pjoin(b.models, 'churn', 'versions', '1.3.0')
    assert listdir(pjoin(b.models, 'churn', 'versions')) == ['1.3.0']
    assert util.tree(vb, skip_root_vfiles=True) == util.tree(src)
    for rel in ('model.bin', 'sub/deep/weights.npy'):
        if os.path.exists(pjoin(src, rel)):
            assert util.read_file(pjoin(vb, rel)) == util.read_file(pjoin(src, rel))
    meta_a = util.read_json(pjoin(a.models, 'churn', 'versions', '1.3.0', 'metadata.json'))
    meta_b = util.read_json(pjoin(vb, 'metadata.json'))
    assert meta_a == meta_b
    # The seal crossed filesystems: the blobs are copies on the tmpfs,
    # the drafts' files are gone from host a's store.
    assert util.blob_files_in(hosts.blobs)
    assert os.listdir(pjoin(a.store, 'drafts')) in ([], ['.modelfs-host'])


def test_a_promotion_on_one_host_is_seen_by_the_next_open_on_the_other(hosts):
    a, b = hosts.hosts
    for v in ('1.0.0', '1.1.0'):
        a.version('churn', v, {'VERSION': v.encode()}, sealed=True)
    os.symlink('versions/1.0.0', pjoin(a.models, 'churn', 'production'))
    assert util.read_file(pjoin(a.models, 'churn', 'production', 'VERSION')) == b'1.0.0'
    # a keeps production/VERSION in its kernel's caches; b moves it.
    subprocess.run(['ln', '-sfn', 'versions/1.1.0', pjoin(b.models, 'churn', 'production')],
                   check=True)
    took = until(lambda: util.read_file(pjoin(a.models, 'churn', 'production', 'VERSION'))
                 == b'1.1.0', timeout=1.0)
    assert took < 1.0
    assert os.readlink(pjoin(a.models, 'churn', 'production')) == 'versions/1.1.0'
    hist = [json.loads(x) for x in util.read_file(
        pjoin(a.models, 'churn', 'history.jsonl')).splitlines()]
    assert [(h.get('from'), h['to']) for h in hist][-1] == ('1.0.0', '1.1.0')


def test_drafts_stay_on_their_host_but_their_names_are_taken(hosts):
    a, b = hosts.hosts
    a.version('churn', '2.0.0', {'w.bin': b'wip'})
    assert listdir(pjoin(b.models, 'churn', 'versions')) == []
    assert not os.path.exists(pjoin(b.models, 'churn', 'versions', '2.0.0'))
    mark = b.log_mark()
    util.expect_errno(errno.EEXIST, os.mkdir, pjoin(b.models, 'churn', 'versions', '2.0.0'))
    assert 'is a draft on another host' in b.log_since(mark)
    # an alias on b cannot point at a's draft: b has no such version
    util.expect_errno(errno.ENOENT, os.symlink, 'versions/2.0.0',
                      pjoin(b.models, 'churn', 'staging'))
    util.seal(pjoin(a.models, 'churn', 'versions', '2.0.0'))
    assert listdir(pjoin(b.models, 'churn', 'versions')) == ['2.0.0']
    os.symlink('versions/2.0.0', pjoin(b.models, 'churn', 'staging'))
    assert util.read_file(pjoin(b.models, 'churn', 'staging', 'w.bin')) == b'wip'


def test_two_hosts_making_one_version_at_once_one_wins(hosts):
    a, b = hosts.hosts
    a.model('churn')
    until(lambda: os.path.isdir(pjoin(b.models, 'churn')))
    for i in range(10):
        name = '3.%d.0' % i
        results = {}
        go = threading.Barrier(2)

        def make(m, key):
            go.wait()
            try:
                os.mkdir(pjoin(m.models, 'churn', 'versions', name))
                results[key] = 0
            except OSError as e:
                results[key] = e.errno
        ts = [threading.Thread(target=make, args=(m, k)) for k, m in (('a', a), ('b', b))]
        for t in ts:
            t.start()
        for t in ts:
            t.join()
        assert sorted(results.values()) == [0, errno.EEXIST], results


def test_two_hosts_promoting_at_once_lose_nothing(hosts):
    a, b = hosts.hosts
    for i in range(4):
        a.version('churn', '1.%d.0' % i, {'v': str(i).encode()}, sealed=True)
    os.symlink('versions/1.0.0', pjoin(a.models, 'churn', 'production'))
    moves = 30

    def promote(m, seed):
        for i in range(moves):
            target = 'versions/1.%d.0' % ((i + seed) % 4)
            subprocess.run(['ln', '-sfn', target, pjoin(m.models, 'churn', 'production')],
                           check=True)
    ts = [threading.Thread(target=promote, args=(m, s)) for s, m in ((0, a), (1, b))]
    for t in ts:
        t.start()
    for t in ts:
        t.join()
    hist = [json.loads(x) for x in util.read_file(
        pjoin(b.models, 'churn', 'history.jsonl')).splitlines()]
    seqs = [h['seq'] for h in hist]
    assert seqs == sorted(set(seqs)), 'history seqs must strictly increase'
    # each move starts where the one before it ended: none was lost
    for prev, cur in zip(hist, hist[1:]):
        if cur.get('from') is not None:
            assert cur['from'] == prev['to'], (prev, cur)
    assert os.readlink(pjoin(a.models, 'churn', 'production')) == 'versions/' + hist[-1]['to']
    audit = [json.loads(x) for x in util.read_file(pjoin(a.mnt, 'audit.jsonl')).splitlines()]
    aseq = [r['seq'] for r in audit]
    assert aseq == list(range(1, len(aseq) + 1)), 'audit seqs must be gapless'
    for m in (a, b):
        res = util.modelctl('audit', 'verify', store=m.store, check=False)
        assert res.returncode == 0, util._s(res.stdout) + util._s(res.stderr)
    heads = {util._s(util.modelctl('audit', 'head', store=m.store).stdout) for m in (a, b)}
    assert len(heads) == 1


def test_identical_content_sealed_on_two_hosts_is_stored_once(hosts):
    a, b = hosts.hosts
    data = util.payload('same', 3 << 20)
    a.version('m', '1.0.0', {'w.bin': data})
    until(lambda: os.path.isdir(pjoin(b.models, 'm')))
    b.version('m', '1.1.0', {'w.bin': data})
    ts = [threading.Thread(target=util.seal, args=(pjoin(m.models, 'm', 'versions', v),))
          for m, v in ((a, '1.0.0'), (b, '1.1.0'))]
    for t in ts:
        t.start()
    for t in ts:
        t.join()
    for m in (a, b):
        for v in ('1.0.0', '1.1.0'):
            assert util.read_file(pjoin(m.models, 'm', 'versions', v, 'w.bin')) == data
    big = [p for p in util.blob_files_in(hosts.blobs) if os.path.getsize(p) == len(data)]
    assert len(big) == 1


def test_what_one_host_removes_the_other_forgets(hosts):
    a, b = hosts.hosts
    vb = pjoin(b.models, 'churn', 'versions', '1.0.0')
    a.version('churn', '1.0.0', {'w.bin': b'x' * 100}, sealed=True)
    a.version('gone', '1.0.0')
    os.rmdir(pjoin(a.models, 'gone', 'versions', '1.0.0'))
    # b's kernel caches the sealed version's names for an hour...
    assert os.stat(pjoin(vb, 'w.bin')).st_size == 100
    assert os.path.isdir(pjoin(b.models, 'gone'))
    os.rmdir(pjoin(a.models, 'churn', 'versions', '1.0.0'))     # a tombstone
    os.rmdir(pjoin(a.models, 'gone'))
    # ...and forgets them when a's commits say so
    until(lambda: not os.path.exists(vb), timeout=1.0)
    until(lambda: not os.path.exists(pjoin(b.models, 'gone')), timeout=1.0)
    util.expect_errno(errno.EEXIST, os.mkdir, vb)   # a tombstone's name is never reused


def test_policies_decided_on_one_host_hold_on_the_other(hosts):
    a, b = hosts.hosts
    a.version('churn', '1.0.0', {'w.bin': b'1'}, sealed=True)
    util.write_file(pjoin(a.models, 'churn', 'policy.json'),
                    json.dumps({'aliases': {'production': {'gates': {'metrics.auc': '>= 0.9'}}}})
                    .encode())
    util.expect_errno(errno.EPERM, os.symlink, 'versions/1.0.0',
                      pjoin(b.models, 'churn', 'production'))
    denied = [json.loads(x) for x in util.read_file(pjoin(a.mnt, 'audit.jsonl')).splitlines()
              if b'"denied"' in x]
    assert denied and denied[-1]['event'] == 'alias.create'


def gc(m):
    os.setxattr(m.mnt, 'user.modelfs.gc', b'run')
    return json.loads(os.getxattr(m.mnt, 'user.modelfs.gc'))


def test_gc_on_one_host_keeps_what_another_has_open(hosts):
    a, b = hosts.hosts
    data = util.payload('served', 2 << 20)
    a.version('churn', '1.0.0', {'w.bin': data}, sealed=True)
    b.version('churn', '1.1.0', {'other.bin': b'x'}, sealed=True)
    fd = os.open(pjoin(a.models, 'churn', 'versions', '1.0.0', 'w.bin'), os.O_RDONLY)
    try:
        os.rmdir(pjoin(b.models, 'churn', 'versions', '1.0.0'))    # a tombstone
        rep = gc(b)
        assert rep['blobs_removed'] == 0, rep
        assert len(util.blob_files_in(hosts.blobs)) == 2
        # a goes on reading the whole file, from the start
        assert util.read_fd(fd) == data
        assert os.pread(fd, 4096, len(data) // 2) == data[len(data) // 2:len(data) // 2 + 4096]
    finally:
        os.close(fd)
    # closed: its lease row goes at a's next heartbeat; then gc takes it
    until(lambda: gc(b)['blobs_removed'] == 1, timeout=3 * LEASE)
    assert len(util.blob_files_in(hosts.blobs)) == 1


def test_a_host_killed_mid_seal_leaves_nothing_another_sees_and_gc_takes_the_rest(hosts):
    a, b = hosts.hosts
    b.model('big')
    files = {'f%d.bin' % i: util.payload('k%d' % i, 6 << 20) for i in range(6)}
    seen = {}
    for rnd in range(4):
        h = hosts.start('killed%d' % rnd)      # a new host each round: its store is gone with it
        v = '1.%d.0' % rnd
        vdir = h.version('big', v, files)
        sealer = subprocess.Popen(['setfattr', '-n', util.SEAL_XATTR, '-v', '1', vdir],
                                  stderr=subprocess.DEVNULL)
        time.sleep(0.02 + 0.06 * rnd)
        h.proc.kill()
        h.proc.wait()
        sealer.wait()
        util.cleanup(h.proc, h.mnt)
        h.proc = None
        hosts.hosts.remove(h)
        # b sees the version whole or not at all
        vb = pjoin(b.models, 'big', 'versions', v)
        if os.path.isdir(vb):
            for name, data in files.items():
                assert util.read_file(pjoin(vb, name)) == data
            seen[v] = True
    # what the dead hosts left is gc's once their rows expire
    time.sleep(2 * LEASE + 0.5)     # a whole lease past its last renewal
    gc(b)
    left = [pjoin(dp, f) for dp, _ds, fs in os.walk(hosts.blobs) for f in fs
            if not f.startswith('.modelfs-')]
    assert not [p for p in left if '.tmp-' in p], left
    # every blob left is one a sealed version names (the same six files
    # each round: dedup), and fsck finds no cruft
    assert len(left) == (len(files) if seen else 0), (left, seen)
    res = util.modelctl('fsck', store=b.store, check=False)
    assert res.returncode == 0 and b'cruft' not in res.stdout, res.stdout


def test_the_database_gone_fails_registry_calls_in_bounded_time(hosts):
    a, b = hosts.hosts
    data = util.payload('outage', 1 << 20)
    a.version('churn', '1.0.0', {'w.bin': data}, sealed=True)
    os.symlink('versions/1.0.0', pjoin(a.models, 'churn', 'production'))
    fd = os.open(pjoin(a.models, 'churn', 'production', 'w.bin'), os.O_RDONLY)
    mark = a.log_mark()
    try:
        hosts.pg.stop('immediate')
        # files already open keep reading
        assert util.read_fd(fd) == data
        # registry calls fail with EIO, within the bound, naming the database
        for call in (lambda: os.mkdir(pjoin(a.models, 'new')),
                     lambda: os.listdir(pjoin(b.models, 'churn', 'versions'))):
            t0 = time.monotonic()
            util.expect_errno(errno.EIO, call)
            assert time.monotonic() - t0 < 8
        assert 'database mh' in a.log_since(mark)
    finally:
        hosts.pg.restart()
        os.close(fd)
    # everything works again, without a remount
    until(lambda: os.path.isdir(pjoin(a.models, 'churn')), timeout=10)
    # a server that hangs (SIGSTOP) answers nothing: the call still ends,
    # with EIO, within the 5 s deadline (and a bit of scheduling)
    hosts.pg.pause()
    try:
        t0 = time.monotonic()
        util.expect_errno(errno.EIO, os.listdir, pjoin(b.models, 'churn', 'versions'))
        assert time.monotonic() - t0 < 8
    finally:
        hosts.pg.resume()
    until(lambda: listdir(pjoin(b.models, 'churn', 'versions')) == ['1.0.0'], timeout=10)
    a.version('churn', '1.1.0', {'w.bin': b'after'}, sealed=True)
    subprocess.run(['ln', '-sfn', 'versions/1.1.0', pjoin(b.models, 'churn', 'production')],
                   check=True)
    until(lambda: util.read_file(pjoin(a.models, 'churn', 'production', 'w.bin')) == b'after')


def test_drafts_on_the_shared_filesystem_are_linked_not_copied(hosts):
    '''drafts= on the blobs' filesystem: a seal links each file into the
    blobs (the draft's inode becomes the blob), and a second host cannot
    take the same drafts directory.'''
    a, _b = hosts.hosts
    drafts = pjoin(hosts.shared, 'drafts-c')
    c = hosts.start('c', 'drafts=' + drafts)
    data = util.payload('linked', 1 << 20)
    c.version('m', '1.0.0', {'w.bin': data})
    inos = [os.stat(pjoin(dp, f)).st_ino for dp, _ds, fs in os.walk(drafts) for f in fs
            if f == 'w.bin']
    assert len(inos) == 1
    util.seal(pjoin(c.models, 'm', 'versions', '1.0.0'))
    blob = [p for p in util.blob_files_in(hosts.blobs) if os.path.getsize(p) == len(data)]
    assert len(blob) == 1 and os.stat(blob[0]).st_ino == inos[0]
    assert util.read_file(pjoin(a.models, 'm', 'versions', '1.0.0', 'w.bin')) == data
    # one host's drafts directory is no other's
    d = pjoin(hosts.tmp, 'd')
    os.mkdir(d)
    other = Mount(d, ['blobs=' + hosts.blobs, 'drafts=' + drafts], hosts.checker,
                  db=hosts.db, pg=hosts.pg)
    res = subprocess.run(other.cmdline(), stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                         timeout=60)
    assert res.returncode != 0
    assert b'belongs to another host' in res.stdout + res.stderr


class CutProxy:
    '''Between a daemon and PostgreSQL, on a unix socket of its own: passes
    the protocol's messages both ways, and cuts one transaction's COMMIT.
    The transaction is the one that sends a parameter holding `marker`
    (a version's name in its key); at its COMMIT the proxy either closes
    both sockets before the COMMIT reaches the server (mode 'before': the
    server rolls back), or lets it through and closes both sockets when
    the server's answer says COMMIT, before the daemon reads it (mode
    'after': committed, and the daemon does not know), or closes the
    daemon's socket only and holds the COMMIT (mode 'silent': a cut
    network; the server's backend waits in its transaction, holding the
    write lock). Once.'''

    def __init__(self, sockdir, target, port, marker, mode):
        import socket
        self.target, self.marker, self.mode = target, marker, mode
        self.cut = threading.Event()
        self.path = pjoin(sockdir, '.s.PGSQL.%d' % port)
        self.srv = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.srv.bind(self.path)
        self.srv.listen(64)
        self.conns = []
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self):
        import socket
        while True:
            try:
                cl, _ = self.srv.accept()
            except OSError:
                return
            up = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            try:
                up.connect(self.target)
            except OSError:
                cl.close()      # the daemon sees the server gone
                up.close()
                continue
            st = {'marked': False, 'armed': False, 'done': False}
            self.conns += [cl, up]
            threading.Thread(target=self._up, args=(cl, up, st), daemon=True).start()
            threading.Thread(target=self._down, args=(up, cl, st), daemon=True).start()

    @staticmethod
    def _messages(sock, typed):
        '''The messages read from sock, whole: (type, body, raw).'''
        buf = b''
        while True:
            need = 5 if typed else 4
            while len(buf) >= need:
                n = int.from_bytes(buf[need - 4:need], 'big') + need - 4
                if len(buf) < n:
                    break
                raw, buf = buf[:n], buf[n:]
                yield (raw[:1] if typed else b''), raw[need:], raw
                typed = True
            try:
                data = sock.recv(65536)
            except OSError:
                return
            if not data:
                return
            buf += data

    def _close(self, *socks):
        import socket
        self.cut.set()
        for s in socks:
            try:
                s.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass

    def _up(self, cl, up, st):
        # libpq asks for no SSL or GSS encryption on a unix socket: the
        # first message is the startup packet, untyped
        names = {}
        for kind, body, raw in self._messages(cl, typed=False):
            if self._pass(kind, body, raw, cl, up, st, names):
                return
        self._close(cl, up)

    def _pass(self, kind, body, raw, cl, up, st, names):
        '''Forward one message from the daemon; True once cut.'''
        if kind == b'P':        # Parse: name, query
            name, query = body.split(b'\0')[:2]
            names[name] = query
        elif kind == b'B':      # Bind: portal, statement, parameters
            query = names.get(body.split(b'\0')[1], b'')
            if query.startswith((b'BEGIN', b'ROLLBACK')):
                st['marked'] = False        # a transaction ends or starts
            elif not self.cut.is_set() and self.marker in body:
                st['marked'] = True
            if st['marked'] and query == b'COMMIT':
                st['marked'] = False
                if self.mode == 'before':
                    self._close(cl, up)
                    return True
                if self.mode == 'silent':
                    # a cut network: the daemon's side closes, the
                    # server's stays open and hears nothing more
                    self._close(cl)
                    return True
                st['armed'] = True
        try:
            up.sendall(raw)
        except OSError:
            return True
        return False

    def _down(self, up, cl, st):
        for kind, body, raw in self._messages(up, typed=True):
            if st['armed'] and kind == b'C' and body.startswith(b'COMMIT'):
                self._close(cl, up)
                return
            try:
                cl.sendall(raw)
            except OSError:
                return
        self._close(cl, up)

    def stop(self):
        import socket
        try:
            self.srv.shutdown(socket.SHUT_RDWR)     # wakes accept()
        except OSError:
            pass
        self.srv.close()
        os.unlink(self.path)
        for s in self.conns:
            try:
                s.close()
            except OSError:
                pass


@pytest.mark.parametrize('mode', ['after', 'before', 'silent'])
def test_a_commit_whose_answer_is_lost_is_asked_for_again(hosts, tmp_path, mode):
    '''The connection breaks during a commit: 'after', the server has
    committed and the answer is lost (a crash or a cut network at that
    moment); 'before', the COMMIT never arrived; 'silent', it never
    arrived and the server did not see the connection go (its backend,
    holding the write lock, is terminated). The daemon asks the
    server which it was and answers the user so: the version made and
    whole, or not made and nothing of it left. Before, both were EIO, and
    'after' left a version listed whose directory the daemon had removed
    (stat: ENOENT), as the kill test once found.'''
    import re
    a, _b = hosts.hosts
    a.model('m')
    sock, port = re.search(r'host=([^&]+)&port=(\d+)', hosts.db).groups()
    pdir = pjoin(str(tmp_path), 'proxy')
    os.mkdir(pdir)
    version = '7.7.7-cut.%s' % mode
    proxy = CutProxy(pdir, pjoin(sock, '.s.PGSQL.' + port), int(port),
                     version.encode(), mode)
    d = pjoin(str(tmp_path), 'c')
    os.mkdir(d)
    c = Mount(d, ['blobs=' + hosts.blobs], hosts.checker,
              db=hosts.db.replace('host=' + sock, 'host=' + pdir), pg=hosts.pg)
    try:
        c.start()
        vdir = pjoin(c.models, 'm', 'versions', version)
        mark = c.log_mark()
        if mode == 'after':
            os.mkdir(vdir)
            assert proxy.cut.is_set()
            assert re.search(r'the answer was lost; the server says transaction \d+ committed',
                             c.log_since(mark))
        else:
            util.expect_errno(errno.EIO, os.mkdir, vdir)
            assert proxy.cut.is_set()
            assert re.search(r'the answer was lost; the server says transaction \d+ was rolled back',
                             c.log_since(mark))
            # a cut network: the backend that held the write lock is ended
            assert ('terminating backend' in c.log_since(mark)) == (mode == 'silent')
            assert version not in os.listdir(pjoin(c.models, 'm', 'versions'))
            assert version not in os.listdir(pjoin(a.models, 'm', 'versions'))
            os.mkdir(vdir)
        # either way a draft that works: its files, its seal, read on both hosts
        util.write_file(pjoin(vdir, 'w.bin'), b'whole')
        util.seal(vdir)
        for m in (c, a):
            assert util.read_file(pjoin(m.models, 'm', 'versions', version, 'w.bin')) == b'whole'
        assert os.listdir(pjoin(c.store, 'drafts')) == []
        c.stop()
        res = util.modelctl('fsck', store=c.store, check=False)
        assert res.returncode == 0, res.stdout + res.stderr
    finally:
        if c.proc is not None:
            print('---- daemon log (c) ----\n%s' % c.log()[-4000:])
            util.cleanup(c.proc, c.mnt)
            c.proc = None
        proxy.stop()


ROUNDS = 40 if os.environ.get('MODELFS_LONG') else 6
SEED = int(os.environ.get('MODELFS_CRASH_SEED', '20261206'))


def workload(m, rng, stop, expect, names, errors):
    '''Register and seal, promote, read back, until stop: on host m.
    expect[(version)] is set before a version is written, so whatever is
    ever seen sealed must be exactly it.'''
    vers = pjoin(m.models, 'm', 'versions')
    while not stop.is_set():
        try:
            op = rng.random()
            if op < 0.45:
                v = '1.%d.0' % next(names)
                files = {'w.bin': rng.randbytes(rng.randint(1, 200000)),
                         'c.json': b'{"v": "%s"}' % v.encode()}
                expect[v] = files
                os.mkdir(pjoin(vers, v))
                for rel, data in files.items():
                    util.write_file(pjoin(vers, v, rel), data)
                os.setxattr(pjoin(vers, v), util.SEAL_XATTR, b'1')
            elif op < 0.75:
                sealed = [v for v in os.listdir(vers)
                          if os.getxattr(pjoin(vers, v), 'user.modelfs.state') == b'sealed']
                if sealed:
                    subprocess.run(['ln', '-sfn', 'versions/' + rng.choice(sealed),
                                    pjoin(m.models, 'm', 'production')],
                                   stderr=subprocess.DEVNULL, timeout=30)
            else:
                # through the version the alias names now (it may move on)
                v = os.readlink(pjoin(m.models, 'm', 'production')).split('/')[-1]
                got = util.read_file(pjoin(vers, v, 'c.json'))
                if got != expect[v]['c.json']:
                    errors.append('%s: %s/c.json reads %r' % (m.mnt, v, got))
        except (OSError, subprocess.SubprocessError):
            time.sleep(0.05)


def test_two_hosts_survive_kills_of_either_daemon_and_of_the_database(hosts):
    import itertools
    import random
    rng = random.Random(SEED)
    a, b = hosts.hosts
    a.model('m')
    until(lambda: os.path.isdir(pjoin(b.models, 'm')))
    expect, names, errors = {}, itertools.count(), []
    for rnd in range(ROUNDS):
        stop = threading.Event()
        ts = [threading.Thread(target=workload,
                               args=(m, random.Random(rng.random()), stop, expect, names,
                                     errors))
              for m in (a, b)]
        for t in ts:
            t.start()
        time.sleep(rng.uniform(0.3, 1.5))
        victim = rng.choice((a, b, 'pg'))
        if victim == 'pg':
            hosts.pg.stop('immediate')
            time.sleep(rng.uniform(0, 0.5))
            hosts.pg.restart()
        else:
            util.kill_daemon(victim.proc, victim.mnt)
            util.cleanup(victim.proc, victim.mnt)
            victim.proc = None
        stop.set()
        for t in ts:
            t.join(timeout=60)
            assert not t.is_alive(), 'a workload thread hangs'
        if victim != 'pg':
            victim.start()
    assert not errors, errors[:5]
    # Both hosts list the same sealed versions, each exactly as written.
    sealed = {}
    for m in (a, b):
        vers = pjoin(m.models, 'm', 'versions')
        until(lambda: listdir(vers) is not None, timeout=10)
        sealed[m.mnt] = sorted(v for v in os.listdir(vers)
                               if os.getxattr(pjoin(vers, v), 'user.modelfs.state') == b'sealed')
        for v in sealed[m.mnt]:
            for rel, data in expect[v].items():
                assert util.read_file(pjoin(vers, v, rel)) == data, (m.mnt, v, rel)
    assert sealed[a.mnt] == sealed[b.mnt]
    assert len(sealed[a.mnt]) >= ROUNDS // 2
    for m in (a, b):
        res = util.modelctl('audit', 'verify', store=m.store, check=False)
        assert res.returncode == 0, res.stdout


def test_modelctl_reads_the_database_and_writes_through_a_store(hosts):
    a, b = hosts.hosts
    a.version('churn', '1.0.0', {'w.bin': b'1'}, sealed=True)
    res = util.run([util.MODELCTL, '--db', hosts.db, '--json', 'list', 'churn'])
    assert [v['version'] for v in json.loads(res.stdout)] == ['1.0.0']
    res = util.run([util.MODELCTL, '--db', hosts.db, 'audit', 'verify'])
    assert b'chain intact' in res.stdout
    res = util.run([util.MODELCTL, '--db', hosts.db, 'tag', 'churn', '1.0.0', 'stage=qa'],
                   check=False)
    assert res.returncode != 0 and b'--db alone is read here' in res.stderr
    # b's daemon stopped: modelctl writes the database through b's store,
    # and a's daemon serves the change at once
    b.stop()
    util.modelctl('tag', 'churn', '1.0.0', 'stage=qa', store=b.store)
    meta = util.read_json(pjoin(a.models, 'churn', 'versions', '1.0.0', 'metadata.json'))
    assert meta['registry']['tags'] == {'stage': 'qa'}
    b.start()


def test_kernel_passthrough_reads_blobs_on_the_shared_filesystem(hosts):
    '''The blobs are on another filesystem than the store (a tmpfs here,
    NFS in production): the kernel still reads sealed files from them
    itself, and the daemon carries none of the bytes.'''
    from test_passthrough import daemon_rchar, kernel_has_passthrough
    a, b = hosts.hosts
    data = util.payload('pt', 16 << 20)
    a.version('m', '1.0.0', {'w.bin': data}, sealed=True)
    for m in (a, b):
        if kernel_has_passthrough():
            assert 'sealed files: kernel passthrough' in m.log()
        path = pjoin(m.models, 'm', 'versions', '1.0.0', 'w.bin')
        before = daemon_rchar(m)
        assert util.read_file(path) == data
        moved = daemon_rchar(m) - before
        if kernel_has_passthrough():
            assert moved < len(data) // 8, 'daemon read %d bytes' % moved


def test_a_promotion_cut_by_the_database_crash_happened_or_not_on_both_hosts(hosts):
    a, b = hosts.hosts
    for i in range(3):
        a.version('churn', '1.%d.0' % i, {'v': b'%d' % i}, sealed=True)
    os.symlink('versions/1.0.0', pjoin(a.models, 'churn', 'production'))
    for rnd in range(3):
        stop = threading.Event()

        def promote():
            i = 0
            while not stop.is_set():
                i += 1
                subprocess.run(['ln', '-sfn', 'versions/1.%d.0' % (i % 3),
                                pjoin(a.models, 'churn', 'production')],
                               stderr=subprocess.DEVNULL, timeout=30)
        t = threading.Thread(target=promote)
        t.start()
        time.sleep(0.2 + 0.2 * rnd)
        hosts.pg.stop('immediate')
        stop.set()
        t.join(timeout=60)
        hosts.pg.restart()
        # the alias names the last move the history recorded, on both
        # hosts; ln's temporary link is either gone or a plain alias
        # each daemon answers again once it has found the server (calls
        # fail at once for a second after one found it gone)
        until(lambda: all(listdir(pjoin(m.models, 'churn')) is not None for m in (a, b)),
              timeout=10)
        hist = [json.loads(x) for x in util.read_file(
            pjoin(b.models, 'churn', 'history.jsonl')).splitlines()]
        last = [h for h in hist if h['alias'] == 'production'][-1]
        for m in (a, b):
            assert os.readlink(pjoin(m.models, 'churn', 'production')) == \
                'versions/' + last['to']
        for name in listdir(pjoin(a.models, 'churn')):
            p = pjoin(a.models, 'churn', name)
            if os.path.islink(p) and name not in ('production', 'latest'):
                os.unlink(p)        # ln's temporary link, as a user would
    for m in (a, b):
        assert util.modelctl('audit', 'verify', store=m.store, check=False).returncode == 0


def test_a_copy_of_a_version_outlives_the_original_deleted_on_another_host(hosts):
    '''cp -r of a version into a draft on a shared registry copies the bytes
    (an instant copy would be a reference gc on another host cannot see):
    the original deleted and collected on host b, the draft on host a
    still seals with every byte.'''
    a, b = hosts.hosts
    data = util.payload('orig', 2 << 20)
    a.version('churn', '1.0.0', {'w.bin': data}, sealed=True)
    subprocess.run(['cp', '-r', pjoin(a.models, 'churn', 'versions', '1.0.0'),
                    pjoin(a.models, 'churn', 'versions', '1.1.0')], check=True)
    os.rmdir(pjoin(b.models, 'churn', 'versions', '1.0.0'))
    # (cp held 1.0.0 open on a: its lease goes at a's next heartbeat)
    until(lambda: gc(b)['blobs_removed'] == 1, timeout=3 * LEASE)
    util.seal(pjoin(a.models, 'churn', 'versions', '1.1.0'))
    assert util.read_file(pjoin(b.models, 'churn', 'versions', '1.1.0', 'w.bin')) == data


@pytest.mark.parametrize('db', ['postgresql://u:s3cret@db.example/modelfs',
                                'host=db.example password = s3cret dbname=modelfs',
                                'postgresql://u@db.example/modelfs?passwor%64=s3cret'])
def test_a_password_on_the_command_line_is_refused(tmp_path, db):
    '''Every user reads command lines (ps, /proc/PID/cmdline), and the store
    would keep the string: libpq's files hold passwords. Refused as libpq
    reads the string, whatever its spelling.'''
    mnt = pjoin(str(tmp_path), 'mnt')
    os.mkdir(mnt)
    res = util.run([util.MODELFS, '-o', 'store=%s' % pjoin(str(tmp_path), 's'), mnt],
                   check=False, env=dict(os.environ, MODELFS_DB=db))
    assert res.returncode != 0 and b'refusing a password' in res.stderr, res.stderr
    assert not os.path.ismount(mnt)
    assert b's3cret' not in res.stderr
    res = util.run([util.MODELCTL, '--db', db, 'list'], check=False)
    assert res.returncode != 0 and b'refusing a password' in res.stderr
    assert b's3cret' not in res.stderr
    config = pjoin(str(tmp_path), 's', 'config')
    assert not os.path.exists(config) or b's3cret' not in util.read_file(config)


def test_document_sizes_cached_on_one_host_follow_changes_on_the_other(hosts):
    '''Host a's kernel keeps the documents' attributes; a promotion and a
    tag on b reach it as notes, and a's next stat gives the new size.'''
    a, b = hosts.hosts
    for v in ('1.0.0', '1.1.0'):
        a.version('churn', v, {'VERSION': v.encode()}, sealed=True)
    os.symlink('versions/1.0.0', pjoin(a.models, 'churn', 'production'))
    docs = [pjoin(a.models, 'churn', 'versions', v, 'metadata.json') for v in ('1.0.0', '1.1.0')]
    docs += [pjoin(a.models, 'churn', 'history.jsonl'), pjoin(a.mnt, 'audit.jsonl')]

    def fresh():
        return all(os.stat(p).st_size == len(util.read_file(p)) for p in docs)

    before = [os.stat(p).st_size for p in docs]
    assert fresh()
    subprocess.run(['ln', '-sfn', 'versions/1.1.0', pjoin(b.models, 'churn', 'production')],
                   check=True)
    until(lambda: [os.stat(p).st_size for p in docs] != before and fresh(), timeout=1.0)
    after = [os.stat(p).st_size for p in docs]
    assert all(x != y for x, y in zip(before, after))
    b.modelctl('tag', 'churn', '1.0.0', 'stage=qa', mnt=b.mnt)
    until(lambda: os.stat(docs[0]).st_size != after[0] and fresh(), timeout=1.0)
