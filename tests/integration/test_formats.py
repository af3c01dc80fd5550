#!/usr/bin/env python3
# test_formats.py - the format of every sealed file, detected from content
#
# Files are made by the real libraries where Debian packages them
# (scikit-learn + joblib, pickle, onnx, numpy, h5py) and by hand where the
# layout is the format (safetensors and GGUF headers, the zip members of
# torch.save, torch.jit.save and Keras archives). Names are chosen to
# mislead: detection must not look at them.

import io
import json
import os
import pickle
import struct
import zipfile
from os.path import join as pjoin

import h5py
import joblib
import numpy
import onnx
import torch
from onnx import TensorProto, helper
from sklearn.linear_model import LogisticRegression

import util
from util import read_json, seal, write_file


def safetensors_bytes():
    data = numpy.arange(6, dtype=numpy.float32).tobytes()
    header = json.dumps({'w': {'dtype': 'F32', 'shape': [2, 3],
                               'data_offsets': [0, len(data)]},
                         '__metadata__': {'format': 'pt'}}).encode()
    return struct.pack('<Q', len(header)) + header + data


def gguf_bytes():
    # magic, version 3, tensor count 0, metadata kv count 0
    return b'GGUF' + struct.pack('<IQQ', 3, 0, 0)


def zip_bytes(members):
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, 'w') as z:
        for name, data in members:
            z.writestr(name, data)
    return buf.getvalue()


def onnx_bytes():
    x = helper.make_tensor_value_info('x', TensorProto.FLOAT, [1, 2])
    y = helper.make_tensor_value_info('y', TensorProto.FLOAT, [1, 2])
    graph = helper.make_graph([helper.make_node('Relu', ['x'], ['y'])], 'g', [x], [y])
    return helper.make_model(graph, producer_name='modelfs-test').SerializeToString()


def test_formats_detected_from_content(mounted, tmp_path):
    src = str(tmp_path / 'src')
    os.mkdir(src)
    clf = LogisticRegression().fit([[0, 0], [1, 1], [0, 1], [1, 0]], [0, 1, 0, 1])
    joblib.dump(clf, pjoin(src, 'a.bin'))
    with open(pjoin(src, 'b.bin'), 'wb') as fh:
        pickle.dump({'weights': [1.0, 2.0]}, fh, protocol=4)
    write_file(pjoin(src, 'c.bin'), onnx_bytes())
    numpy.save(pjoin(src, 'd.bin'), numpy.zeros((3, 3)))
    os.rename(pjoin(src, 'd.bin.npy'), pjoin(src, 'd.bin'))
    with h5py.File(pjoin(src, 'e.bin'), 'w') as h:
        h.create_dataset('w', data=numpy.ones(4))
    write_file(pjoin(src, 'f.bin'), safetensors_bytes())
    write_file(pjoin(src, 'g.bin'), gguf_bytes())
    write_file(pjoin(src, 'h.bin'), zip_bytes([('archive/data.pkl', pickle.dumps(1)),
                                               ('archive/data/0', b'\0' * 8)]))
    write_file(pjoin(src, 'i.bin'), zip_bytes([('archive/data.pkl', pickle.dumps(1)),
                                               ('archive/constants.pkl', pickle.dumps(()))]))
    write_file(pjoin(src, 'j.bin'), zip_bytes([('metadata.json', b'{}'), ('config.json', b'{}'),
                                               ('model.weights.h5', b'')]))
    write_file(pjoin(src, 'k.bin'), b'{"a": [1, 2]}\n')
    write_file(pjoin(src, 'l.bin'), 'plain text, caf\u00e9\n'.encode())
    write_file(pjoin(src, 'm.json'), b'\x00\x01\x02garbage')
    expect = {'a.bin': 'joblib', 'b.bin': 'pickle', 'c.bin': 'onnx', 'd.bin': 'numpy',
              'e.bin': 'hdf5', 'f.bin': 'safetensors', 'g.bin': 'gguf',
              'h.bin': 'torch', 'i.bin': 'torchscript', 'j.bin': 'keras',
              'k.bin': 'json', 'l.bin': 'text', 'm.json': 'unknown'}
    vdir = pjoin(mounted.model('churn'), 'versions', '1.0.0')
    util.run(['cp', '-r', src, vdir])
    seal(vdir)
    reg = read_json(pjoin(vdir, 'metadata.json'))['registry']
    got = {f['path']: f['format'] for f in reg['files']}
    assert got == expect
    for name, fmt in expect.items():
        assert os.getxattr(pjoin(vdir, name), 'user.modelfs.format').decode() == fmt
        assert 'user.modelfs.format' in os.listxattr(pjoin(vdir, name))
    # The version lists its model formats once each; plain json/text are
    # not model formats when model files are present.
    assert reg['formats'] == ['pickle', 'joblib', 'onnx', 'torch', 'torchscript', 'keras',
                              'hdf5', 'safetensors', 'gguf', 'numpy']
    # The model files still load from production/.
    os.symlink('versions/1.0.0', pjoin(mounted.model('churn'), 'production'))
    prod = pjoin(mounted.model('churn'), 'production')
    assert joblib.load(pjoin(prod, 'a.bin')).predict([[1, 1]]).tolist() == [1]
    assert onnx.load(pjoin(prod, 'c.bin')).producer_name == 'modelfs-test'
    with h5py.File(pjoin(prod, 'e.bin'), 'r') as h:
        assert h['w'][:].tolist() == [1.0, 1.0, 1.0, 1.0]


def test_text_only_version_lists_text(mounted):
    vdir = mounted.version('notes', '1.0.0', {'README.md': b'# model card\n',
                                              'config.json': b'{"layers": 3}'})
    seal(vdir)
    reg = read_json(pjoin(vdir, 'metadata.json'))['registry']
    assert reg['formats'] == ['json', 'text']


def test_torch_files_made_by_torch(mounted, tmp_path):
    '''torch.save and torch.jit.save archives, made by PyTorch itself,
    are told apart by content and load back from production/.'''
    src = str(tmp_path / 'src')
    os.mkdir(src)
    net = torch.nn.Linear(3, 2)
    torch.save(net.state_dict(), pjoin(src, 'weights'))
    torch.jit.save(torch.jit.script(net), pjoin(src, 'scripted'))
    vdir = pjoin(mounted.model('churn'), 'versions', '1.0.0')
    util.run(['cp', '-r', src, vdir])
    seal(vdir)
    reg = read_json(pjoin(vdir, 'metadata.json'))['registry']
    assert {f['path']: f['format'] for f in reg['files']} == \
        {'weights': 'torch', 'scripted': 'torchscript'}
    os.symlink('versions/1.0.0', pjoin(mounted.model('churn'), 'production'))
    prod = pjoin(mounted.model('churn'), 'production')
    state = torch.load(pjoin(prod, 'weights'))
    assert torch.equal(state['weight'], net.state_dict()['weight'])
    x = torch.ones(1, 3)
    assert torch.equal(torch.jit.load(pjoin(prod, 'scripted'))(x), net(x))
