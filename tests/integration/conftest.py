#!/usr/bin/env python3
# conftest.py - fixtures for the modelfs integration tests (libfuse's shape)
#
# `mounted` starts `modelfs -f -o store=STORE MNT` on a fresh store in the
# test's tmp dir, waits for the mount (failing at once if the daemon exits),
# yields a Mount, and in `finally` unmounts with fusermount3, requires the
# daemon to exit 0, scans its stderr for sanitizer reports and requires
# `modelctl -s STORE fsck` to exit 0. A watchdog kills a daemon that hangs a
# test, so a hung request becomes ENOTCONN and a failure, not a stuck run.
#
# Every test that mounts runs once per registry engine (the `engine`
# parameter): `lmdb`, the embedded default, and `postgresql`, the many-host
# registry, in a fresh database of a cluster the session starts itself
# (tests/pg.sh) and stops at its end. MODELFS_TEST_ENGINES=lmdb (or
# postgresql) runs one; a test about one engine only says so with
# @pytest.mark.engines('lmdb').

import os
import re
import signal
import subprocess
import sys
import threading
import time
from os.path import join as pjoin

import pytest

sys.path.insert(0, os.path.dirname(__file__))
import util  # noqa: E402

TEST_TIMEOUT = 120


def _engines():
    want = os.environ.get('MODELFS_TEST_ENGINES')
    if want:
        return [e for e in want.split(',') if e]
    return ['lmdb', 'postgresql'] if util.have_postgresql() else ['lmdb']


ENGINES = _engines()


def pytest_configure(config):
    config.addinivalue_line(
        'markers', 'mount_options(*opts): extra -o options for the mounted fixture')
    config.addinivalue_line(
        'markers', 'timeout(seconds): the mounted fixture\'s watchdog, if not %ds' % TEST_TIMEOUT)
    config.addinivalue_line(
        'markers', 'engines(*names): the registry engines the test is about '
        '(default: every engine)')


def pytest_generate_tests(metafunc):
    if 'engine' not in metafunc.fixturenames:
        return
    marker = metafunc.definition.get_closest_marker('engines')
    names = [e for e in ENGINES if not marker or e in marker.args]
    metafunc.parametrize('engine', names)


@pytest.fixture(scope='session')
def pg_cluster():
    '''One PostgreSQL cluster for the session (made on first use).'''
    cluster = util.PgCluster()
    try:
        yield cluster
    finally:
        cluster.close()


# Make test outcome available to fixtures
@pytest.hookimpl(hookwrapper=True, tryfirst=True)
def pytest_runtest_makereport(item, call):
    outcome = yield
    rep = outcome.get_result()
    setattr(item, 'rep_' + rep.when, rep)
    return rep


class OutputChecker:
    '''Fails the test on sanitizer reports in daemon stderr.

    The daemon logs one line per refusal, so "error" alone is not suspicious
    here; memory and UB reports are. A test that provokes a report on purpose
    declares it with register_output(pattern).
    '''

    PATTERNS = (r'AddressSanitizer', r'LeakSanitizer', r'runtime error',
                r'ThreadSanitizer', r'^==[0-9]+==\s*ERROR')

    def __init__(self):
        self._false_positives = []
        self._paths = []

    def watch(self, path):
        if path not in self._paths:
            self._paths.append(path)

    def register_output(self, pattern, count=0, flags=re.MULTILINE):
        '''Register *pattern* as expected output (not a failure).'''
        self._false_positives.append((pattern, flags, count))

    def text(self):
        buf = ''
        for p in self._paths:
            if os.path.exists(p):
                with open(p, 'rb') as fh:
                    buf += fh.read().decode('utf-8', 'replace')
        return buf

    def check(self):
        buf = self.text()
        for (pattern, flags, count) in self._false_positives:
            buf = re.compile(pattern, flags).sub('', buf, count=count)
        for pattern in self.PATTERNS:
            hit = re.search(pattern, buf, re.MULTILINE)
            if hit:
                start = max(0, hit.start() - 200)
                raise AssertionError(
                    'Suspicious daemon output (matched "%s"):\n%s'
                    % (hit.group(0), buf[start:hit.start() + 3000]))


@pytest.fixture()
def output_checker(request):
    checker = OutputChecker()
    yield checker
    checker.check()


def require_binaries():
    for b in (util.MODELFS, util.MODELCTL):
        if not os.access(b, os.X_OK):
            pytest.fail('%s is not built (set MODELFS_BUILD or run '
                        '`meson setup build && ninja -C build`)' % b)


class Mount:
    '''A running `modelfs -f` on a private store and mount point.'''

    def __init__(self, tmp_path, options, checker, db=None, pg=None):
        self.tmp = str(tmp_path)
        self.db = db			# a PostgreSQL URI, or None: LMDB
        self.pg = pg			# its util.PgCluster
        self.engine = 'postgresql' if db else 'lmdb'
        self.store = pjoin(self.tmp, 'store')
        self.mnt = pjoin(self.tmp, 'mnt')
        self.models = pjoin(self.mnt, 'models')
        self.log_path = pjoin(self.tmp, 'modelfs.log')
        self.options = list(options)
        self.proc = None
        self._logfh = None
        self.timed_out = False
        self.debug = False		# serve with -d: every request logged
        checker.watch(self.log_path)
        os.mkdir(self.mnt)

    # -- lifecycle -------------------------------------------------------
    def cmdline(self):
        opts = ','.join(['store=' + self.store] + (['db=' + self.db] if self.db else []) +
                        self.options)
        return [util.MODELFS, '-f'] + (['-d'] if self.debug else []) + ['-o', opts, self.mnt]

    def start(self):
        assert self.proc is None
        self._logfh = open(self.log_path, 'ab')
        self.proc = subprocess.Popen(self.cmdline(), stdin=subprocess.DEVNULL,
                                     stdout=self._logfh, stderr=self._logfh)
        try:
            util.wait_for_mount(self.proc, self.mnt, log_path=self.log_path)
        except BaseException:
            util.cleanup(self.proc, self.mnt)
            self.proc = None
            raise

    def stop(self):
        '''Unmount and require exit status 0 (idempotent).'''
        if self.proc is None:
            return
        proc, self.proc = self.proc, None
        try:
            util.umount(proc, self.mnt)
        finally:
            util.cleanup(proc, self.mnt)
            self._logfh.close()

    def remount(self, options=None):
        self.stop()
        if options is not None:
            self.options = list(options)
        self.start()

    def kill(self):
        '''Watchdog: abort the FUSE connection so blocked syscalls return.'''
        self.timed_out = True
        proc = self.proc
        conn = util.fuse_connection(self.mnt)
        if proc is not None and proc.poll() is None:
            proc.send_signal(signal.SIGKILL)
        if conn:
            with open(os.path.join(conn, 'abort'), 'w') as fh:
                fh.write('1')
        util.fusermount_u(self.mnt, lazy=True)

    # -- log -------------------------------------------------------------
    def log(self):
        with open(self.log_path, 'rb') as fh:
            return fh.read().decode('utf-8', 'replace')

    def log_mark(self):
        return os.path.getsize(self.log_path)

    def log_since(self, mark):
        with open(self.log_path, 'rb') as fh:
            fh.seek(mark)
            return fh.read().decode('utf-8', 'replace')

    def serve_debug(self):
        '''Serve again with -d, so that requests_since() can count what the
        kernel asks.'''
        self.stop()
        self.debug = True
        self.start()

    def requests_since(self, mark):
        '''[(opcode, nodeid)] of the requests logged since *mark* (-d).'''
        assert self.debug
        return [(op, int(n)) for op, n in
                re.findall(r'opcode: ([A-Z_]+) \(\d+\), nodeid: (\d+)', self.log_since(mark))]

    # -- tree helpers ----------------------------------------------------
    def path(self, *parts):
        return pjoin(self.mnt, *parts)

    def model(self, name):
        '''Register model *name* (mkdir) and return its directory.'''
        p = pjoin(self.models, name)
        if not os.path.isdir(p):
            os.mkdir(p)
        return p

    def version(self, model, version, files=None, sealed=False):
        '''Create draft *version* of *model* with *files* {relpath: bytes}.'''
        mdir = self.model(model)
        vdir = pjoin(mdir, 'versions', version)
        os.mkdir(vdir)
        for rel, data in (files or {}).items():
            p = pjoin(vdir, rel)
            d = os.path.dirname(p)
            if not os.path.isdir(d):
                os.makedirs(d)
            util.write_file(p, data)
        if sealed:
            util.seal(vdir)
        return vdir

    def modelctl(self, *args, **kw):
        kw.setdefault('store', self.store)
        return util.modelctl(*args, **kw)


def engine_db(request, engine):
    '''The db= of a new registry on engine and its cluster: (None, None)
    for LMDB in the store, or a fresh PostgreSQL database's URI.'''
    if engine == 'lmdb':
        return None, None
    pg = request.getfixturevalue('pg_cluster')
    return pg.createdb(), pg


@pytest.fixture()
def mounted(request, tmp_path, output_checker, engine):
    require_binaries()
    marker = request.node.get_closest_marker('mount_options')
    options = list(marker.args) if marker else []
    db, pg = engine_db(request, engine)
    m = Mount(tmp_path, options, output_checker, db=db, pg=pg)
    m.start()
    limit = request.node.get_closest_marker('timeout')
    limit = limit.args[0] if limit else TEST_TIMEOUT
    watchdog = threading.Timer(limit, m.kill)
    watchdog.daemon = True
    watchdog.start()
    failed = False
    try:
        yield m
    finally:
        watchdog.cancel()
        rep = getattr(request.node, 'rep_call', None)
        failed = rep is not None and rep.failed
        if failed:
            # Shows up in the report's "Captured stdout teardown".
            print('---- daemon log (%s) ----' % m.log_path)
            print(m.log()[-6000:])
        if m.timed_out:
            util.cleanup(m.proc, m.mnt)
            m.proc = None
            pytest.fail('test timed out after %ds; daemon killed' % limit)
        m.stop()
    # Only reached when unmount succeeded: the store must be consistent.
    res = util.modelctl('fsck', store=m.store, check=False)
    assert res.returncode == 0, 'fsck after test exited %d:\n%s%s' % (
        res.returncode, util._s(res.stdout), util._s(res.stderr))
    if db:
        pg.dropdb(db)


@pytest.fixture(scope='session')
def users():
    '''The test users ({name: util.User}): mfs_alice (group mfs_ml),
    mfs_bob (mfs_ml, mfs_ops), mfs_carol (mfs_ops), mfs_dave (none),
    mfs_erin (mfs_admin). Pair with util.open_path(mounted.mnt).'''
    return util.make_test_users()


@pytest.fixture()
def store(tmp_path):
    '''A path for a store that does not exist yet (modelfs initialises it).'''
    return pjoin(str(tmp_path), 'store')
