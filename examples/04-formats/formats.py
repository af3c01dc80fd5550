#!/usr/bin/python3
# examples/04-formats/formats.py MNT - one model, five packaging formats.
#
# A logistic regression trained with scikit-learn is saved as pickle,
# joblib, ONNX, TorchScript (and a torch.save state dict) and safetensors
# into one version. At the seal the registry detects each file's format
# from its content (never from its name) and lists it in the version's
# metadata.json (registry.files[].format, registry.formats) and in the
# attribute user.modelfs.format. Each file is then loaded back through the
# `production` alias and must predict what the original model predicts.
# safetensors is not installed here: its layout is simple enough to write
# and read by hand (8-byte little-endian header length, JSON header, raw
# tensor bytes).
import json
import os
import pickle
import struct
import sys

import joblib
import numpy
import onnx
import torch
from onnx import TensorProto, helper, numpy_helper
from sklearn.datasets import make_classification
from sklearn.linear_model import LogisticRegression

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
import lib  # noqa: E402  (examples/lib.py: the plumbing every example shares)

MNT = lib.mount_point()
NAME = lib.fresh_name(MNT, 'ex04-formats')     # or ex04-formats-2... if an earlier run took it
M = os.path.join(MNT, 'models', NAME)

lib.step('train once')
X, y = make_classification(n_samples=200, n_features=4, random_state=1)
clf = LogisticRegression().fit(X, y)
W = clf.coef_.astype(numpy.float32)            # (1, 4)
B = clf.intercept_.astype(numpy.float32)       # (1,)
expected = clf.predict_proba(X[:5])[:, 1]
print('  coef', [round(float(w), 3) for w in W[0]], 'intercept', round(float(B[0]), 3))

lib.step('save it in every format, straight into a draft of %s' % NAME)
os.mkdir(M)
V = os.path.join(M, 'versions', '1.0.0')
os.mkdir(V)
with open(os.path.join(V, 'model.pkl'), 'wb') as f:     # pickle: any Python object
    pickle.dump(clf, f)
joblib.dump(clf, os.path.join(V, 'model.joblib'))        # joblib: pickle + numpy buffers

# ONNX: the same function as a graph, sigmoid(x @ W^T + b).
graph = helper.make_graph(
    [helper.make_node('MatMul', ['x', 'Wt'], ['z0']),
     helper.make_node('Add', ['z0', 'b'], ['z']),
     helper.make_node('Sigmoid', ['z'], ['p'])],
    'logreg',
    [helper.make_tensor_value_info('x', TensorProto.FLOAT, [None, 4])],
    [helper.make_tensor_value_info('p', TensorProto.FLOAT, [None, 1])],
    initializer=[numpy_helper.from_array(W.T.copy(), 'Wt'), numpy_helper.from_array(B, 'b')])
model = helper.make_model(graph, producer_name='example-04')
onnx.checker.check_model(model)
onnx.save(model, os.path.join(V, 'model.onnx'))

# TorchScript: a traced module (code + weights, loadable without the class),
# and torch.save of the state dict (weights only).
lin = torch.nn.Linear(4, 1)
with torch.no_grad():
    lin.weight.copy_(torch.from_numpy(W))
    lin.bias.copy_(torch.from_numpy(B))
net = torch.nn.Sequential(lin, torch.nn.Sigmoid()).eval()
torch.jit.save(torch.jit.trace(net, torch.zeros(1, 4)), os.path.join(V, 'model.torchscript.pt'))
torch.save(lin.state_dict(), os.path.join(V, 'state_dict.pt'))


def safetensors_dump(tensors, path):
    '''{name: float32 array} -> a .safetensors file.'''
    header, blobs, off = {'__metadata__': {'format': 'numpy'}}, [], 0
    for name, a in tensors.items():
        raw = numpy.ascontiguousarray(a, dtype='<f4').tobytes()
        header[name] = {'dtype': 'F32', 'shape': list(a.shape), 'data_offsets': [off, off + len(raw)]}
        blobs.append(raw)
        off += len(raw)
    text = json.dumps(header).encode()
    text += b' ' * (-len(text) % 8)                  # keep the tensors 8-byte aligned
    with open(path, 'wb') as f:
        f.write(struct.pack('<Q', len(text)) + text + b''.join(blobs))


def safetensors_load(path):
    with open(path, 'rb') as f:
        data = f.read()
    (n,) = struct.unpack('<Q', data[:8])
    header = json.loads(data[8:8 + n])
    out = {}
    for name, t in header.items():
        if name != '__metadata__':
            a, b = t['data_offsets']
            out[name] = numpy.frombuffer(data[8 + n + a:8 + n + b], '<f4').reshape(t['shape'])
    return out


safetensors_dump({'weight': W, 'bias': B}, os.path.join(V, 'model.safetensors'))
with open(os.path.join(V, 'metadata.json'), 'w') as f:
    json.dump({'description': 'one logistic regression, five formats',
               'library_versions': {'torch': torch.__version__, 'onnx': onnx.__version__}}, f)

lib.step('seal and promote: the registry detects the formats')
lib.move_alias(M, 'production', '1.0.0')       # ln -sfn versions/1.0.0 production
reg = json.load(open(os.path.join(V, 'metadata.json')))['registry']
detected = {f['path']: f['format'] for f in reg['files']}
for path, fmt in sorted(detected.items()):
    print('  %-22s %s' % (path, fmt))
print('  version formats:', reg['formats'])
P = os.path.join(M, 'production')
xattr = os.getxattr(os.path.join(P, 'model.onnx'), 'user.modelfs.format').decode()
print('  getfattr -n user.modelfs.format production/model.onnx:', xattr)

lib.step('load every file back through production/ and predict')
x = X[:5].astype(numpy.float32)
sigmoid = lambda z: 1 / (1 + numpy.exp(-z))   # noqa: E731
got = {}
with open(os.path.join(P, 'model.pkl'), 'rb') as f:
    got['pickle'] = pickle.load(f).predict_proba(X[:5])[:, 1]
got['joblib'] = joblib.load(os.path.join(P, 'model.joblib')).predict_proba(X[:5])[:, 1]
init = {t.name: numpy_helper.to_array(t) for t in onnx.load(os.path.join(P, 'model.onnx')).graph.initializer}
got['onnx'] = sigmoid(x @ init['Wt'] + init['b'])[:, 0]        # the graph, by hand
with torch.no_grad():
    got['torchscript'] = torch.jit.load(os.path.join(P, 'model.torchscript.pt'))(
        torch.from_numpy(x)).numpy()[:, 0]
    lin2 = torch.nn.Linear(4, 1)
    lin2.load_state_dict(torch.load(os.path.join(P, 'state_dict.pt')))
    got['torch'] = torch.sigmoid(lin2(torch.from_numpy(x))).numpy()[:, 0]
st = safetensors_load(os.path.join(P, 'model.safetensors'))
got['safetensors'] = sigmoid(x @ st['weight'].T + st['bias'])[:, 0]
for fmt, p in got.items():
    print('  %-12s %s' % (fmt, [round(float(v), 4) for v in p]))

lib.step('checks')
want = {'model.pkl': 'pickle', 'model.joblib': 'joblib', 'model.onnx': 'onnx',
        'model.torchscript.pt': 'torchscript', 'state_dict.pt': 'torch',
        'model.safetensors': 'safetensors'}
checks = [('detected formats', all(detected.get(p) == f for p, f in want.items())),
          ('version formats', set(want.values()) <= set(reg['formats'])),
          ('format attribute', xattr == 'onnx')]
checks += [('%s predicts as the original' % fmt, numpy.allclose(p, expected, atol=1e-5))
           for fmt, p in got.items()]
lib.report(checks)
print('ok: pickle, joblib, ONNX, TorchScript, torch and safetensors detected and loaded on %s' % NAME)
