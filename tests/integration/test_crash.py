#!/usr/bin/env python3
# test_crash.py - kill -9 during a seal: nothing sealed is lost, nothing is
# half-sealed, fsck is clean after the next start (DESIGN §2).
#
# Each round writes a draft of several files, starts the seal from a
# thread, kills the daemon at a random moment (seeded, so a failure is
# reproducible), clears the dead mount, starts again and checks: the
# version is either still a draft with every byte, or sealed with every
# byte; earlier sealed versions are intact; modelctl fsck reports no error.
# The mounted fixture's teardown runs fsck once more.

import os
import random
import signal
import threading
import time
from os.path import join as pjoin

import util
from util import payload, read_file, write_file

ROUNDS = 6
FILES = 6
SIZE = 3 << 20


def kill_and_restart(mounted):
    util.kill_daemon(mounted.proc, mounted.mnt)
    # No auto_unmount: the dead mount answers ENOTCONN until cleared.
    util.fusermount_u(mounted.mnt, lazy=True)
    mounted.proc = None
    mounted._logfh.close()
    mounted.start()


def test_kill9_during_seal_loses_nothing(mounted):
    rng = random.Random(20261125)
    # Calibrate: how long a seal of this size takes on this build (the
    # sanitized one is slower), so kill times fall before and after it.
    probe = mounted.version('probe', '1.0.0',
                            {'f%d.bin' % i: payload('p%d' % i, SIZE) for i in range(FILES)})
    t0 = time.monotonic()
    util.seal(probe)
    span = max(0.02, 2 * (time.monotonic() - t0))
    sealed = {}
    states = []
    rnd = -1
    # At least ROUNDS rounds, and more (up to 3x) until the kills have hit
    # both sides of the commit: a loaded machine seals slower than the
    # probe did, so the kill window widens after each round that ended
    # before the commit, and narrows after one that ended after it.
    while rnd + 1 < ROUNDS or ('draft' not in states or 'sealed' not in states) \
            and rnd + 1 < 3 * ROUNDS:
        rnd += 1
        version = '1.0.%d' % rnd
        files = {'f%d.bin' % i: payload('%d-%d' % (rnd, i), SIZE) for i in range(FILES)}
        # One file shared with round 0: a seal that dedups while dying.
        files['shared.bin'] = payload('shared', SIZE)
        vdir = mounted.version('churn', version, files)
        outcome = {}

        def do_seal():
            try:
                util.seal(vdir)
                outcome['ok'] = True
            except Exception as exc:  # ENOTCONN or ECONNABORTED when killed
                outcome['err'] = exc

        t = threading.Thread(target=do_seal)
        t.start()
        time.sleep(rng.uniform(0, span))
        kill_and_restart(mounted)
        t.join(timeout=30)
        assert not t.is_alive(), 'seal call hung after the daemon died'

        vdir = pjoin(mounted.models, 'churn', 'versions', version)
        state = os.getxattr(vdir, 'user.modelfs.state').decode()
        assert state in ('draft', 'sealed'), state
        if outcome.get('ok'):
            assert state == 'sealed', 'a seal that returned 0 was lost'
        for name, data in files.items():
            assert read_file(pjoin(vdir, name)) == data, \
                'round %d (%s): %s changed' % (rnd, state, name)
        states.append(state)
        if 'sealed' not in states:
            span *= 2
        elif 'draft' not in states:
            span /= 2
        if state == 'draft':
            util.seal(vdir)
        sealed[version] = files
        # Everything sealed so far reads back byte for byte.
        for v, fs in sealed.items():
            for name, data in fs.items():
                assert read_file(pjoin(mounted.models, 'churn', 'versions', v, name)) == data
        res = mounted.modelctl('fsck', check=False)
        assert res.returncode == 0, util._s(res.stdout) + util._s(res.stderr)
    # The seeded kill times must hit both sides of the commit, or the
    # test proves nothing about the interrupted one.
    assert 'draft' in states and 'sealed' in states, states
    # The shared content is stored once however many seals died around it.
    blobs = util.blob_files(mounted.store)
    assert len(blobs) == (len(states) + 1) * FILES + 1, len(blobs)
