#!/usr/bin/env python3
# test_package.py - the Debian package (README "Running modelfs on a host")
#
# `dpkg-buildpackage -us -uc -b` in a copy of the source tree builds
# modelfs_*.deb; installed, its programs mount a registry, `mount -t
# fuse.modelfs` finds them, and its manual pages and unit are where man and
# systemd look. A package that was not installed before the test is purged
# after it.

import glob
import os
import shutil
import subprocess
from os.path import join as pjoin

import util
from util import read_file, run, write_file


def source_copy(dst):
    '''The files of the checkout git knows of (tracked, or new and not
    ignored), as a source package would hold them; without git, the tree
    but its build directories.'''
    if not os.path.isdir(pjoin(util.basename, '.git')):
        shutil.copytree(util.basename, dst, symlinks=True,
                        ignore=lambda d, names: [n for n in names if n.startswith('build')
                                                 and d == util.basename])
        return
    out = run(['git', '-C', util.basename, 'ls-files', '-z', '--cached', '--others',
               '--exclude-standard']).stdout.decode()
    for rel in filter(None, out.split('\0')):
        src = pjoin(util.basename, rel)
        if not os.path.lexists(src):
            continue                    # deleted in the work tree
        os.makedirs(os.path.dirname(pjoin(dst, rel)), exist_ok=True)
        shutil.copy2(src, pjoin(dst, rel), follow_symlinks=False)


def installed_version():
    res = run(['dpkg-query', '-W', '-f', '${Status} ${Version}', 'modelfs'], check=False)
    out = res.stdout.decode()
    return out.split()[-1] if res.returncode == 0 and 'ok installed' in out else None


def test_the_debian_package_builds_installs_and_mounts(tmp_path):
    src = pjoin(str(tmp_path), 'pkg', 'modelfs')
    source_copy(src)
    res = run(['dpkg-buildpackage', '-us', '-uc', '-b'], cwd=src, check=False, timeout=1800)
    assert res.returncode == 0, res.stdout.decode()[-3000:] + res.stderr.decode()[-3000:]
    debs = glob.glob(pjoin(str(tmp_path), 'pkg', 'modelfs_*_*.deb'))
    assert len(debs) == 1, debs
    before = installed_version()
    run(['dpkg', '-i', debs[0]], timeout=300)
    store, mnt = str(tmp_path / 'store'), str(tmp_path / 'mnt')
    os.mkdir(mnt)
    try:
        listing = run(['dpkg', '-L', 'modelfs']).stdout.decode().split('\n')
        for path in ('/usr/bin/modelfs', '/usr/bin/modelctl', '/sbin/mount.fuse.modelfs',
                     '/usr/lib/systemd/system/modelfs@.service',
                     '/usr/share/bash-completion/completions/modelctl'):
            assert path in listing, path
        assert run(['man', '-w', 'modelfs']).stdout.decode().startswith('/usr/share/man/man8/')
        assert 'ExecStart=/usr/bin/modelfs ' in read_file(
            '/usr/lib/systemd/system/modelfs@.service').decode()
        # The installed daemon, started by mount(8) through the helper.
        run(['/sbin/mount.fuse.modelfs', store, mnt, '-o', 'seal_idle=0'])
        assert os.path.ismount(mnt)
        vdir = pjoin(mnt, 'models', 'pkg', 'versions', '1.0.0')
        os.makedirs(vdir)
        write_file(pjoin(vdir, 'w.bin'), b'packaged')
        run(['/usr/bin/modelctl', '-m', mnt, 'seal', 'pkg@1.0.0'])
        assert util.is_sealed(vdir)
        out = run(['/usr/bin/modelctl', '-m', mnt, 'list', 'pkg']).stdout.decode()
        assert '1.0.0' in out and 'sealed' in out
        pids = util.daemon_pids(mnt)
        assert pids and all(os.readlink('/proc/%d/exe' % p) == '/usr/bin/modelfs' for p in pids)
        run(['umount', mnt])
        assert util.wait_pids_gone(pids)
    finally:
        subprocess.run(['fusermount3', '-uz', mnt])
        if before is None:
            run(['dpkg', '--purge', 'modelfs'], timeout=300)
    if before is None:
        assert installed_version() is None
        assert not os.path.lexists('/sbin/mount.fuse.modelfs')
