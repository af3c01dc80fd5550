#!/usr/bin/env python3
# test_bad_input.py - hostile names and documents, each refused with its
# errno, one log line, and nothing changed
#
# test_refusals.py holds the table of operations the tree refuses; this one
# adds what a fuzzer or a careless script sends: control characters and
# invalid UTF-8 in names, SemVer edge cases, and JSON bombs in metadata.json
# (deep nesting, oversized documents, invalid UTF-8, duplicate keys).

import errno
import os
from os.path import join as pjoin

import pytest

import util
from util import expect_errno


@pytest.fixture()
def world(mounted):
    mounted.version('m', '1.0.0', {'a.bin': b'a'}, sealed=True)
    mounted.version('m', '1.1.0', {'f.bin': b'f'})
    mounted.model('n')
    return mounted


def p(m, rel):
    return os.fsencode(m.mnt) + b'/' + rel


NAMES = [
    # (id, path relative to the mount as bytes, op, errno)
    ('model-empty-ish', b'models/ ', 'mkdir', errno.EINVAL),
    ('model-newline', b'models/a\nb', 'mkdir', errno.EINVAL),
    ('model-tab', b'models/a\tb', 'mkdir', errno.EINVAL),
    ('model-ctrl-1', b'models/a\x01b', 'mkdir', errno.EINVAL),
    ('model-del', b'models/a\x7fb', 'mkdir', errno.EINVAL),
    ('model-invalid-utf8', b'models/a\xffb', 'mkdir', errno.EINVAL),
    ('model-overlong-utf8', b'models/a\xc0\xafb', 'mkdir', errno.EINVAL),
    ('model-255', b'models/' + b'a' * 255, 'mkdir', errno.EINVAL),
    ('model-256', b'models/' + b'a' * 256, 'mkdir', errno.EINVAL),
    ('version-newline', b'models/m/versions/1.2.0\n', 'mkdir', errno.EINVAL),
    ('version-invalid-utf8', b'models/m/versions/1.2.0-\xff', 'mkdir', errno.EINVAL),
    ('version-overflow-major', b'models/m/versions/99999999999999999999.0.0', 'mkdir', errno.EINVAL),
    ('version-overflow-minor', b'models/m/versions/1.18446744073709551616.0', 'mkdir', errno.EINVAL),
    ('version-pre-leading-zero', b'models/m/versions/1.2.3-01', 'mkdir', errno.EINVAL),
    ('version-pre-empty-ident', b'models/m/versions/1.2.3-rc..1', 'mkdir', errno.EINVAL),
    ('version-build-empty-ident', b'models/m/versions/1.2.3+b..1', 'mkdir', errno.EINVAL),
    ('version-pre-bad-char', b'models/m/versions/1.2.3-rc_1', 'mkdir', errno.EINVAL),
    ('version-v-prefix', b'models/m/versions/v1.2.3', 'mkdir', errno.EINVAL),
    ('version-negative', b'models/m/versions/-1.2.3', 'mkdir', errno.EINVAL),
    ('version-spaces', b'models/m/versions/ 1.2.3', 'mkdir', errno.EINVAL),
    ('alias-newline', b'models/m/prod\n', 'symlink', errno.EINVAL),
    ('alias-invalid-utf8', b'models/m/prod\xff', 'symlink', errno.EINVAL),
    ('alias-ctrl', b'models/m/pr\x02od', 'symlink', errno.EINVAL),
]


@pytest.mark.parametrize('case', NAMES, ids=[c[0] for c in NAMES])
def test_bad_names(world, case):
    name, rel, op, want = case
    before = util.snapshot(world.mnt)
    mark = world.log_mark()
    if op == 'mkdir':
        expect_errno(want, os.mkdir, p(world, rel))
    else:
        expect_errno(want, os.symlink, b'versions/1.0.0', p(world, rel))
    assert util.snapshot(world.mnt) == before
    assert len(world.log_since(mark).splitlines()) == 1, world.log_since(mark)


def nested(n):
    return b'{"a": ' + b'[' * n + b']' * n + b'}'


DOCS = [
    ('deep-nesting', nested(100000), errno.EINVAL),
    ('deep-nesting-objects', b'{"a": ' + b'{"b": ' * 5000 + b'1' + b'}' * 5000 + b'}',
     errno.EINVAL),
    ('oversized', b'{"description": "' + b'x' * (17 << 20) + b'"}', errno.EFBIG),
    ('invalid-utf8-value', b'{"description": "caf\xe9"}', errno.EINVAL),
    ('invalid-utf8-key', b'{"\xff": 1}', errno.EINVAL),
    ('duplicate-keys', b'{"a": 1, "a": 2}', errno.EINVAL),
    ('duplicate-nested-keys', b'{"m": {"auc": 1, "auc": 2}}', errno.EINVAL),
    ('not-an-object', b'[1, 2, 3]', errno.EINVAL),
    ('trailing-garbage', b'{"a": 1} {"b": 2}', errno.EINVAL),
    ('nul-byte', b'{"a": "x\x00y"}', errno.EINVAL),
    ('truncated', b'{"a": [1, 2', errno.EINVAL),
    ('lone-surrogate', b'{"a": "\\ud800"}', errno.EINVAL),
]


@pytest.mark.parametrize('case', DOCS, ids=[c[0] for c in DOCS])
def test_bad_metadata_documents(world, case):
    name, doc, want = case
    path = pjoin(world.models, 'm', 'versions', '1.1.0', 'metadata.json')
    util.write_file(path, b'{"description": "kept"}')
    kept = util.read_file(path)
    before = util.snapshot(world.mnt)
    mark = world.log_mark()
    errors = set()
    fd = os.open(path, os.O_WRONLY | os.O_TRUNC)
    try:
        view = memoryview(doc)
        while view:
            try:
                n = os.write(fd, view)
            except OSError as e:        # the size limit refuses the write itself
                errors.add(e.errno)
                break
            view = view[n:]
    finally:
        try:
            os.close(fd)
        except OSError as e:
            errors.add(e.errno)
    assert want in errors, '%s: got %r' % (name, errors)
    assert util.snapshot(world.mnt) == before
    assert util.read_file(path) == kept
    assert len(world.log_since(mark).splitlines()) >= 1
    # the draft still seals with the document it had
    util.seal(pjoin(world.models, 'm', 'versions', '1.1.0'))
    assert util.read_json(path)['description'] == 'kept'
