#!/usr/bin/env python3
# test_clients.py - the libraries people save and load models with
#
# joblib (sklearn), numpy (save, load with mmap, memmap w+) and onnx write
# into a draft with their own I/O patterns and read back through the
# `production/` alias, unchanged.

import errno
import os
from os.path import join as pjoin

import numpy as np

import util
from util import run


def promote(mounted, model, version, alias='production'):
    mdir = pjoin(mounted.models, model)
    run(['ln', '-sfn', 'versions/' + version, alias], cwd=mdir)
    return pjoin(mdir, alias)


def test_joblib_sklearn_roundtrip(mounted):
    import joblib
    from sklearn.linear_model import LogisticRegression

    rng = np.random.RandomState(0)
    X = rng.normal(size=(200, 5))
    y = (X[:, 0] + 0.5 * X[:, 1] > 0).astype(int)
    clf = LogisticRegression().fit(X, y)
    vdir = pjoin(mounted.model('churn'), 'versions', '1.0.0')
    os.mkdir(vdir)
    joblib.dump(clf, pjoin(vdir, 'model.joblib'))
    joblib.dump({'scaler': [1.0, 2.0]}, pjoin(vdir, 'prep.joblib.gz'), compress=3)
    prod = promote(mounted, 'churn', '1.0.0')
    assert util.is_sealed(vdir)
    loaded = joblib.load(pjoin(prod, 'model.joblib'))
    assert np.array_equal(loaded.predict(X), clf.predict(X))
    assert np.array_equal(loaded.coef_, clf.coef_)
    assert joblib.load(pjoin(prod, 'prep.joblib.gz')) == {'scaler': [1.0, 2.0]}


def test_numpy_save_and_mmap_load(mounted):
    arr = np.arange(300000, dtype=np.float32).reshape(1000, 300) / 7.0
    vdir = pjoin(mounted.model('emb'), 'versions', '1.0.0')
    os.mkdir(vdir)
    np.save(pjoin(vdir, 'weights.npy'), arr)
    np.savez(pjoin(vdir, 'extra.npz'), a=arr[:10], b=np.arange(5))
    prod = promote(mounted, 'emb', '1.0.0')
    m = np.load(pjoin(prod, 'weights.npy'), mmap_mode='r')
    try:
        assert isinstance(m, np.memmap)
        assert m.shape == arr.shape and m.dtype == arr.dtype
        assert np.array_equal(m, arr)
        assert float(m[999, 299]) == float(arr[999, 299])
    finally:
        del m
    with np.load(pjoin(prod, 'extra.npz')) as z:
        assert np.array_equal(z['a'], arr[:10])
        assert np.array_equal(z['b'], np.arange(5))


def test_numpy_memmap_w_plus_in_draft(mounted):
    vdir = pjoin(mounted.model('emb'), 'versions', '1.0.0')
    os.mkdir(vdir)
    p = pjoin(vdir, 'table.f64')
    mm = np.memmap(p, dtype=np.float64, mode='w+', shape=(256, 128))
    mm[:] = np.arange(256 * 128, dtype=np.float64).reshape(256, 128)
    mm[17, 3] = -1.5
    mm.flush()
    del mm
    expect = np.arange(256 * 128, dtype=np.float64).reshape(256, 128)
    expect[17, 3] = -1.5
    assert np.array_equal(np.fromfile(p, dtype=np.float64).reshape(256, 128), expect)
    # r+ update in place, then seal and map read-only
    mm = np.memmap(p, dtype=np.float64, mode='r+', shape=(256, 128))
    mm[0, 0] = 42.0
    mm.flush()
    del mm
    expect[0, 0] = 42.0
    util.seal(vdir)
    ro = np.memmap(p, dtype=np.float64, mode='r', shape=(256, 128))
    try:
        assert np.array_equal(ro, expect)
    finally:
        del ro


def _tiny_onnx_model():
    import onnx
    from onnx import TensorProto, helper

    W = helper.make_tensor('W', TensorProto.FLOAT, [3, 2],
                           [0.1, 0.2, 0.3, 0.4, 0.5, 0.6])
    B = helper.make_tensor('B', TensorProto.FLOAT, [2], [1.0, -1.0])
    nodes = [helper.make_node('MatMul', ['X', 'W'], ['XW']),
             helper.make_node('Add', ['XW', 'B'], ['Z']),
             helper.make_node('Relu', ['Z'], ['Y'])]
    graph = helper.make_graph(
        nodes, 'tiny',
        [helper.make_tensor_value_info('X', TensorProto.FLOAT, [None, 3])],
        [helper.make_tensor_value_info('Y', TensorProto.FLOAT, [None, 2])],
        initializer=[W, B])
    model = helper.make_model(graph, producer_name='modelfs-tests',
                              opset_imports=[helper.make_opsetid('', 13)])
    model.ir_version = 8
    onnx.checker.check_model(model)
    return model


def test_onnx_save_load(mounted):
    import onnx
    model = _tiny_onnx_model()
    vdir = pjoin(mounted.model('tiny'), 'versions', '0.1.0')
    os.mkdir(vdir)
    onnx.save(model, pjoin(vdir, 'model.onnx'))
    prod = promote(mounted, 'tiny', '0.1.0')
    loaded = onnx.load(pjoin(prod, 'model.onnx'))
    onnx.checker.check_model(loaded)
    assert loaded.SerializeToString() == model.SerializeToString()
    assert [n.op_type for n in loaded.graph.node] == ['MatMul', 'Add', 'Relu']
    # a checker on the path, as serving code does
    onnx.checker.check_model(pjoin(prod, 'model.onnx'))


def test_python_open_write_read(mounted):
    vdir = pjoin(mounted.model('plain'), 'versions', '1.0.0')
    os.mkdir(vdir)
    with open(pjoin(vdir, 'notes.txt'), 'w') as fh:
        for i in range(1000):
            fh.write('line %d\n' % i)
    with open(pjoin(vdir, 'notes.txt'), 'a') as fh:
        fh.write('tail\n')
    expect = ''.join('line %d\n' % i for i in range(1000)) + 'tail\n'
    prod = promote(mounted, 'plain', '1.0.0')
    with open(pjoin(prod, 'notes.txt')) as fh:
        assert fh.read() == expect
    # Python probing for __pycache__ in a sealed version: refused, not fatal
    util.expect_errno(errno.EROFS, os.mkdir, pjoin(prod, '__pycache__'))
