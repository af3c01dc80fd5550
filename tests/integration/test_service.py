#!/usr/bin/env python3
# test_service.py - modelfs as the host runs it: mount(8), fstab, systemd
#
# README "Running modelfs on a host": `ninja -C build install` puts the
# daemon where mount(8)'s helpers find it and /sbin/mount.fuse.modelfs
# beside mount.fuse3, so `mount -t fuse.modelfs STORE MNT` and an fstab
# line work; modelfs@.service runs the daemon with Type=notify, which the
# daemon answers with sd_notify once the mount is live.

import json
import os
import re
import socket
import subprocess
from os.path import join as pjoin

import pytest

import util
from util import read_file, run, write_file

HELPER = '/sbin/mount.fuse.modelfs'


def prefix():
    '''The build's install prefix (meson's own record of it).'''
    out = run(['meson', 'introspect', '--buildoptions', util.build_dir]).stdout
    return next(o['value'] for o in json.loads(out) if o['name'] == 'prefix')


@pytest.fixture()
def installed():
    '''What `ninja install` puts where mount(8), man and systemd look -
    the daemon in PREFIX/bin, the mount helper in /sbin, the manual pages
    - as links to this build's files. Whatever was there is put back
    afterwards.'''
    man = pjoin(prefix(), 'share', 'man')
    places = [(pjoin(prefix(), 'bin', 'modelfs'), util.MODELFS),
              (HELPER, '/sbin/mount.fuse3'),
              (pjoin(man, 'man8', 'modelfs.8'), pjoin(util.build_dir, 'dist', 'modelfs.8')),
              (pjoin(man, 'man1', 'modelctl.1'), pjoin(util.build_dir, 'dist', 'modelctl.1'))]
    saved, made = [], []
    for path, _ in places:
        # Left by a run that was killed: put back by hand, never lost.
        assert not os.path.lexists(path + '.before-test'), \
            '%s.before-test is left from an earlier run: move it back to %s' % (path, path)
    try:
        for path, target in places:
            if os.path.lexists(path):
                os.rename(path, path + '.before-test')
                saved.append(path)
            os.makedirs(os.path.dirname(path), exist_ok=True)
            os.symlink(target, path)
            made.append(path)
        yield pjoin(prefix(), 'bin', 'modelfs')
    finally:
        for path in made:
            os.unlink(path)
        for path in saved:
            os.rename(path + '.before-test', path)


def wait_gone(mnt):
    pids = util.daemon_pids(mnt)
    assert util.wait_pids_gone(pids), 'the daemon outlived its unmount'


def use(mnt):
    '''Register, seal and read a version through a mount.'''
    models = pjoin(mnt, 'models')
    os.mkdir(pjoin(models, 'svc'))
    vdir = pjoin(models, 'svc', 'versions', '1.0.0')
    os.mkdir(vdir)
    write_file(pjoin(vdir, 'w.bin'), b'weights')
    util.seal(vdir)
    assert util.is_sealed(vdir)
    assert read_file(pjoin(vdir, 'w.bin')) == b'weights'


def test_install_puts_each_piece_in_place(tmp_path):
    '''`ninja -C build install` (here into a DESTDIR): both programs, the
    mount helper as a link to mount.fuse3, and the unit naming the
    installed daemon.'''
    dest = str(tmp_path / 'dest')
    run(['meson', 'install', '-C', util.build_dir, '--no-rebuild', '--quiet', '--destdir', dest])
    pre = dest + prefix()
    for prog in ('modelfs', 'modelctl'):
        assert os.access(pjoin(pre, 'bin', prog), os.X_OK), prog
    assert os.readlink(dest + HELPER) == '/sbin/mount.fuse3'
    unit = read_file(pjoin(pre, 'lib', 'systemd', 'system', 'modelfs@.service')).decode()
    assert 'ExecStart=%s -f $MODELFS_OPTIONS %%f' % pjoin(prefix(), 'bin', 'modelfs') in unit
    assert 'Type=notify' in unit
    for page in ('man8/modelfs.8', 'man1/modelctl.1'):
        assert os.path.exists(pjoin(pre, 'share', 'man', page)), page
    assert os.path.exists(pjoin(pre, 'share', 'bash-completion', 'completions', 'modelctl'))


@pytest.mark.parametrize('page', ['modelfs.8', 'modelctl.1'])
def test_manual_pages_read_cleanly(page):
    '''man -l renders each page without a warning from groff, and the page
    names every option and verb the program's own help does.'''
    path = pjoin(util.build_dir, 'dist', page)
    res = run(['man', '--warnings', '-l', path], env=dict(os.environ, MANWIDTH='100'))
    assert res.stderr.decode() == ''
    text = res.stdout.decode()
    prog = util.MODELFS if page == 'modelfs.8' else util.MODELCTL
    helptext = run([prog, '--help'], check=False)
    helptext = (helptext.stdout + helptext.stderr).decode()
    text = text.replace('\u2010', '-')
    if page == 'modelfs.8':
        named = set(re.findall(r'-o ([a-z_]+)=', helptext)) | {'nopassthrough'}
        section = text.split('\nOPTIONS\n')[1].split('\nFSTAB')[0]
        missing = [n for n in sorted(named) if not re.search(r'^ +-o %s\b' % n, section, re.M)]
    else:
        named = {line.split()[0] for line in helptext.split('verbs:')[1].split('\n\n')[0]
                 .splitlines() if line.startswith('  ') and not line.startswith('   ')}
        section = text.split('\nVERBS\n')[1].split('\nENVIRONMENT\n')[0]
        missing = [n for n in sorted(named) if not re.search(r'(^ +|, )%s\b' % n, section, re.M)]
    assert missing == [], 'not in %s: %s' % (page, missing)


def test_mount_t_fuse_modelfs(installed, tmp_path):
    store, mnt = str(tmp_path / 'store'), str(tmp_path / 'mnt')
    os.mkdir(mnt)
    run(['mount', '-t', 'fuse.modelfs', '-o', 'seal_idle=0', store, mnt])
    try:
        assert os.path.ismount(mnt)
        use(mnt)
    finally:
        subprocess.run(['umount', mnt])
        wait_gone(mnt)
    assert not os.path.ismount(mnt)
    # The registry is in the store: mounted again, the version is there.
    run(['mount', '-t', 'fuse.modelfs', store, mnt])
    try:
        assert read_file(pjoin(mnt, 'models', 'svc', 'versions', '1.0.0', 'w.bin')) == b'weights'
    finally:
        subprocess.run(['umount', mnt])
        wait_gone(mnt)


def test_an_fstab_line_mounts(installed, tmp_path):
    '''`mount -a` of an fstab holding a modelfs line (a temporary one:
    mount -T).'''
    store, mnt = str(tmp_path / 'store'), str(tmp_path / 'mnt')
    os.mkdir(mnt)
    fstab = str(tmp_path / 'fstab')
    write_file(fstab, '# a model registry\n%s %s fuse.modelfs defaults,seal_idle=0 0 0\n'
               % (store, mnt))
    run(['mount', '-T', fstab, '-a'])
    try:
        assert os.path.ismount(mnt)
        use(mnt)
        # Named by its mount point alone, as fstab allows.
        run(['umount', mnt])
        wait_gone(mnt)
        run(['mount', '-T', fstab, mnt])
        assert read_file(pjoin(mnt, 'models', 'svc', 'versions', '1.0.0', 'w.bin')) == b'weights'
    finally:
        subprocess.run(['umount', mnt])
        wait_gone(mnt)


def test_the_unit_verifies(installed, tmp_path):
    '''systemd's own check of modelfs@.service, instantiated for a mount
    point (it also checks that the installed daemon is there).'''
    units = tmp_path / 'units'
    units.mkdir()
    text = read_file(pjoin(util.build_dir, 'dist', 'modelfs@.service'))
    write_file(str(units / 'modelfs@.service'), text)
    inst = run(['systemd-escape', '--template', 'modelfs@.service', '--path', '/srv/models']
               ).stdout.decode().strip()
    assert inst == 'modelfs@srv-models.service'
    res = run(['systemd-analyze', 'verify', str(units / inst)], check=False)
    assert res.returncode == 0 and res.stderr.decode().strip() == '', res.stderr.decode()


def listen(tmp_path):
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    path = str(tmp_path / 'notify')
    sock.bind(path)
    sock.settimeout(60)
    return sock, path


def test_the_daemon_says_ready_once_its_mount_is_live(tmp_path):
    '''Type=notify: READY=1 comes once the mount answers (systemd then
    starts what is ordered after the unit), STOPPING=1 at the unmount.'''
    sock, path = listen(tmp_path)
    store, mnt = str(tmp_path / 'store'), str(tmp_path / 'mnt')
    os.mkdir(mnt)
    env = dict(os.environ, NOTIFY_SOCKET=path)
    log = open(str(tmp_path / 'log'), 'wb')
    proc = subprocess.Popen([util.MODELFS, '-f', store, mnt], env=env, stdout=log, stderr=log)
    try:
        msg = sock.recv(4096).decode()
        assert os.path.ismount(mnt)     # at once, not some time after
        assert 'READY=1' in msg.splitlines(), msg
        assert "STATUS=serving '%s' at '%s'" % (store, mnt) in msg.splitlines(), msg
        assert 'models' in os.listdir(mnt)
        run(['fusermount3', '-u', mnt])
        assert 'STOPPING=1' in sock.recv(4096).decode().splitlines()
        assert proc.wait(30) == 0
    finally:
        util.cleanup(proc, mnt)
        sock.close()
        log.close()


def test_a_daemon_that_cannot_serve_never_says_ready(tmp_path):
    sock, path = listen(tmp_path)
    sock.settimeout(0)
    env = dict(os.environ, NOTIFY_SOCKET=path)
    missing = str(tmp_path / 'no-such-dir')
    res = run([util.MODELFS, '-f', str(tmp_path / 'store'), missing], env=env, check=False)
    assert res.returncode != 0
    with pytest.raises(BlockingIOError):
        sock.recv(4096)
    sock.close()
