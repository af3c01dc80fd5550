#!/usr/bin/python3
# probe.py - the measured work of tests/bench/bench.py, one process per run
#
# bench.py runs each read (and the promotion readers, and the registration
# workers) in a fresh process, so the mapping or cache state of one run never
# serves the next except where a scenario means it to. Each probe times only
# its own work (after imports) with perf_counter and prints one JSON object
# on stdout. The content generators used by both sides of a comparison
# (the tree registered through the mount and the same tree written to the
# plain disk) live here too, so the two are byte for byte the same.

import json
import math
import mmap
import os
import random
import struct
import sys
import time

PAGE = 4096
MIB = 1 << 20


def emit(**kw):
    json.dump(kw, sys.stdout)
    sys.stdout.write('\n')


def percentile(sorted_vals, p):
    '''Nearest-rank percentile of an already sorted list.'''
    if not sorted_vals:
        return float('nan')
    k = math.ceil(p / 100.0 * len(sorted_vals)) - 1
    return sorted_vals[max(0, min(len(sorted_vals) - 1, k))]


# ----------------------------------------------------------------------------
# Reads

def stream(path, view):
    '''Read all of *path* through the one buffer *view* (no copies);
    returns the bytes read.'''
    total = 0
    fd = os.open(path, os.O_RDONLY)
    try:
        while True:
            n = os.readv(fd, [view])
            if n <= 0:
                return total
            total += n
    finally:
        os.close(fd)


def probe_seq(path, block):
    '''Read the whole file in blocks of *block* bytes (one buffer, no copies).'''
    view = memoryview(bytearray(int(block)))
    t0 = time.perf_counter()
    total = stream(path, view)
    emit(seconds=time.perf_counter() - t0, bytes=total)


def probe_rand(path, count, seed):
    '''*count* preads of 4 KiB at page-aligned random offsets.'''
    size = os.path.getsize(path)
    pages = max(1, size // PAGE)
    rng = random.Random(int(seed))
    offs = [rng.randrange(pages) * PAGE for _ in range(int(count))]
    lat = []
    fd = os.open(path, os.O_RDONLY)
    clock = time.perf_counter_ns
    try:
        t0 = time.perf_counter()
        for off in offs:
            a = clock()
            os.pread(fd, PAGE, off)
            lat.append(clock() - a)
        secs = time.perf_counter() - t0
    finally:
        os.close(fd)
    lat.sort()
    emit(seconds=secs, ops=len(offs), p50_us=percentile(lat, 50) / 1e3,
         p99_us=percentile(lat, 99) / 1e3)


def probe_mmap(path):
    '''Map the whole file and touch one byte in every page.'''
    import numpy as np
    t0 = time.perf_counter()
    fd = os.open(path, os.O_RDONLY)
    try:
        m = mmap.mmap(fd, 0, prot=mmap.PROT_READ)
    finally:
        os.close(fd)
    a = np.frombuffer(m, dtype=np.uint8)
    s = int(a[::PAGE].sum(dtype=np.uint64))
    secs = time.perf_counter() - t0
    del a
    m.close()
    emit(seconds=secs, pages=(os.path.getsize(path) + PAGE - 1) // PAGE, checksum=s)


def probe_npy(path):
    '''numpy.load(mmap_mode='r'), then sum a strided slice touching every page.'''
    import numpy as np
    t0 = time.perf_counter()
    arr = np.load(path, mmap_mode='r')
    flat = arr.reshape(-1)
    step = max(1, PAGE // flat.itemsize)
    s = float(flat[::step].sum(dtype=np.float64))
    secs = time.perf_counter() - t0
    emit(seconds=secs, elements=int(flat.size), checksum=s)


def probe_safetensors(path):
    '''Load the way safetensors does: u64 LE header length, JSON header,
    mmap, then touch every page of every tensor.'''
    import numpy as np
    dtypes = {'F32': np.float32, 'F16': np.float16, 'BF16': np.uint16,
              'I64': np.int64, 'I32': np.int32, 'U8': np.uint8}
    t0 = time.perf_counter()
    fd = os.open(path, os.O_RDONLY)
    try:
        (hlen,) = struct.unpack('<Q', os.pread(fd, 8, 0))
        header = json.loads(os.pread(fd, hlen, 8))
        m = mmap.mmap(fd, 0, prot=mmap.PROT_READ)
    finally:
        os.close(fd)
    base = 8 + hlen
    s = 0.0
    tensors = 0
    for name, t in header.items():
        if name == '__metadata__':
            continue
        lo, hi = t['data_offsets']
        dt = np.dtype(dtypes[t['dtype']])
        arr = np.frombuffer(m, dtype=dt, count=(hi - lo) // dt.itemsize, offset=base + lo)
        s += float(arr[::max(1, PAGE // dt.itemsize)].sum(dtype=np.float64))
        tensors += 1
        del arr
    secs = time.perf_counter() - t0
    m.close()
    emit(seconds=secs, tensors=tensors, checksum=s)


# ----------------------------------------------------------------------------
# Metadata

def probe_stat(listfile, root):
    '''os.stat of root/<each line of listfile>, timing every call.'''
    with open(listfile) as f:
        rels = [line.rstrip('\n') for line in f if line.strip()]
    paths = [os.path.join(root, r) for r in rels]
    lat = []
    clock = time.perf_counter_ns
    t0 = time.perf_counter()
    for p in paths:
        a = clock()
        os.stat(p)
        lat.append(clock() - a)
    secs = time.perf_counter() - t0
    lat.sort()
    emit(seconds=secs, calls=len(paths), p50_us=percentile(lat, 50) / 1e3,
         p99_us=percentile(lat, 99) / 1e3, max_us=lat[-1] / 1e3 if lat else 0.0)


def probe_metafind(root, query):
    '''The lightweight-registry way to answer `modelctl find`: read every
    version's metadata.json under root/<model>/versions/ and filter.'''
    t0 = time.perf_counter()
    hits = 0
    for m in sorted(os.listdir(root)):
        mdir = os.path.join(root, m)
        try:
            prod = os.readlink(os.path.join(mdir, 'production'))
        except OSError:
            prod = None
        for v in sorted(os.listdir(os.path.join(mdir, 'versions'))):
            with open(os.path.join(mdir, 'versions', v, 'metadata.json')) as f:
                meta = json.load(f)
            if query == 'auc-production':
                auc = meta.get('metrics', {}).get('auc')
                ok = isinstance(auc, (int, float)) and auc >= 0.9 and prod == 'versions/' + v
            elif query == 'fraud':
                ok = 'fraud' in (meta.get('tags') or [])
            else:
                raise SystemExit('probe.py: unknown query %r' % query)
            hits += ok
    emit(seconds=time.perf_counter() - t0, hits=hits)


# ----------------------------------------------------------------------------
# Promotion readers

def probe_stream(path, stopfile):
    '''Stream *path* (re-opened each pass) until *stopfile* exists.'''
    buf = bytearray(MIB)
    view = memoryview(buf)
    total = passes = errors = 0
    t0 = time.perf_counter()
    while not os.path.exists(stopfile):
        try:
            total += stream(path, view)
            passes += 1
        except OSError:
            errors += 1
            time.sleep(0.001)
    emit(seconds=time.perf_counter() - t0, bytes=total, passes=passes, errors=errors)


# ----------------------------------------------------------------------------
# Content shared by the registered tree and its plain-disk twin

def meta_files(m, v, nv):
    '''{relpath: bytes} of version v of model m in the metadata registry.'''
    rng = random.Random(m * 100003 + v)
    weights = rng.randbytes(rng.randint(1024, 4096))
    config = json.dumps({'model': 'm%05d' % m, 'layers': rng.randint(2, 48),
                         'hidden': rng.choice([64, 128, 256])}).encode()
    meta = json.dumps({'metrics': {'auc': round(rng.random(), 4)},
                       'tags': ['fraud'] if v % 3 == 0 else ['churn'],
                       'dataset_snapshot_id': 'snap-%d' % (v % nv)}).encode()
    return {'model.bin': weights, 'config.json': config, 'metadata.json': meta}


def scale_files(m, v):
    return {'w.bin': b'model %d version %d\n' % (m, v)}


def version_name(v):
    return '1.%d.0' % v


def write_version(vdir, files, seal):
    os.mkdir(vdir)
    for rel, data in files.items():
        with open(os.path.join(vdir, rel), 'wb') as f:
            f.write(data)
    if seal:
        os.setxattr(vdir, 'user.modelfs.seal', b'1')


def register(kind, models_root, first, last, nv, seal, alias):
    '''Register models [first, last) with nv versions each (kind: meta or
    scale), sealing each version when *seal*, and pointing a production
    alias at the last one when *alias*.'''
    t0 = time.perf_counter()
    for m in range(int(first), int(last)):
        mdir = os.path.join(models_root, 'm%05d' % m)
        os.makedirs(os.path.join(mdir, 'versions'), exist_ok=True)
        for v in range(nv):
            files = meta_files(m, v, nv) if kind == 'meta' else scale_files(m, v)
            write_version(os.path.join(mdir, 'versions', version_name(v)), files, seal)
        if alias:
            os.symlink('versions/' + version_name(nv - 1), os.path.join(mdir, 'production'))
    emit(seconds=time.perf_counter() - t0, models=int(last) - int(first))


def main(argv):
    kind, args = argv[1], argv[2:]
    if kind == 'seq':
        probe_seq(args[0], int(args[1]))
    elif kind == 'rand':
        probe_rand(args[0], int(args[1]), int(args[2]))
    elif kind == 'mmap':
        probe_mmap(args[0])
    elif kind == 'npy':
        probe_npy(args[0])
    elif kind == 'safetensors':
        probe_safetensors(args[0])
    elif kind == 'stat':
        probe_stat(args[0], args[1])
    elif kind == 'metafind':
        probe_metafind(args[0], args[1])
    elif kind == 'stream':
        probe_stream(args[0], args[1])
    elif kind == 'register':
        register(args[0], args[1], int(args[2]), int(args[3]), int(args[4]),
                 args[5] == 'seal', args[6] == 'alias')
    else:
        sys.exit('probe.py: unknown probe %r' % kind)


if __name__ == '__main__':
    main(sys.argv)
