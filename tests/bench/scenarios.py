# scenarios.py - the eight scenarios of tests/bench/bench.py
#
# Each run_<name>(ctx) sets up its data under ctx.scratch(<name>) (removed
# afterwards, mounts included), measures modelfs and its reference(s)
# alternately with core.alternate(), and reports with ctx.record(). The
# registries that are slow to make through the mount (metadata, scale) are
# built once by build_registry() and kept by ctx.cached(); multihost copies
# the metadata one into a fresh PostgreSQL database (modelctl migrate).

import json
import os
import re
import shutil
import struct
import subprocess
import tempfile
import time
from os.path import join as pj

import numpy as np

import core
import probe
from core import MIB, GIB, BenchError, alternate, median, human_size

SEAL = 'user.modelfs.seal'
now = time.perf_counter


# ----------------------------------------------------------------------------
# Data

def random_file(path, size, seed):
    rng = np.random.default_rng(seed)
    with open(path, 'wb') as f:
        left = size
        while left:
            n = min(left, 64 * MIB)
            f.write(rng.bytes(n))
            left -= n


def small_tree(top, count, seed):
    '''*count* files of 1-16 KiB in sub-directories of 200, as a model
    directory with many small parts (shards, tokenizer pieces, configs).'''
    rng = np.random.default_rng(seed)
    for i in range(count):
        d = pj(top, 'part%02d' % (i // 200))
        os.makedirs(d, exist_ok=True)
        with open(pj(d, 'f%05d.bin' % i), 'wb') as f:
            f.write(rng.bytes(int(rng.integers(1024, 16 * 1024 + 1))))


def mutate(path):
    '''New first 16 bytes in every file under *path*: the next round's
    content is not in the store yet (dedup would make it free).'''
    files = [path] if os.path.isfile(path) else [
        pj(d, n) for d, _, ns in os.walk(path) for n in ns]
    for p in files:
        fd = os.open(p, os.O_WRONLY)
        try:
            os.pwrite(fd, os.urandom(16), 0)
        finally:
            os.close(fd)


def npy_file(path, size, seed):
    '''A float32 .npy of about *size* bytes (rows of 1,024).'''
    rows = max(1, size // 4096)
    arr = np.lib.format.open_memmap(path, mode='w+', dtype=np.float32, shape=(rows, 1024))
    rng = np.random.default_rng(seed)
    step = 16384
    for lo in range(0, rows, step):
        hi = min(rows, lo + step)
        arr[lo:hi] = rng.random((hi - lo, 1024), dtype=np.float32)
    arr.flush()
    del arr


def safetensors_file(path, size, seed, tensors=8):
    '''A real safetensors file of about *size* bytes: u64 LE header length,
    JSON header (dtype, shape, data_offsets), then the tensor bytes.'''
    rows = max(1, size // tensors // 4096)
    nbytes = rows * 1024 * 4
    header = {'__metadata__': {'format': 'pt', 'producer': 'modelfs bench'}}
    for i in range(tensors):
        header['layers.%d.weight' % i] = {'dtype': 'F32', 'shape': [rows, 1024],
                                          'data_offsets': [i * nbytes, (i + 1) * nbytes]}
    h = json.dumps(header, separators=(',', ':')).encode()
    h += b' ' * (-len(h) % 8)
    rng = np.random.default_rng(seed)
    with open(path, 'wb') as f:
        f.write(struct.pack('<Q', len(h)))
        f.write(h)
        for _ in range(tensors):
            f.write(rng.random(rows * 1024, dtype=np.float32).tobytes())


def du(*paths):
    '''Allocated bytes of *paths* together (du -sB1 -c: hard links once).'''
    r = subprocess.run(['du', '-sB1', '-c'] + list(paths), stdout=subprocess.PIPE,
                       stderr=subprocess.DEVNULL)
    return int(r.stdout.decode().strip().splitlines()[-1].split()[0])


def store_bytes(store):
    '''(whole store, content: blobs + drafts) allocated bytes.'''
    return du(store), du(pj(store, 'blobs'), pj(store, 'drafts'))


def seal(ctx, vdir):
    ctx.run(['setfattr', '-n', SEAL, '-v', '1', vdir])


def samples(**kw):
    return {k: [round(x, 6) if isinstance(x, float) else x for x in v] for k, v in kw.items()}


# ----------------------------------------------------------------------------
# Registries made through the mount, kept between runs

def build_registry(ctx, top, kind, models, nv, alias, native):
    '''Register *models* x *nv* versions (probe.register's layouts) in a new
    store under *top*, with ctx.args.workers processes each doing its own
    models; write the same tree as plain directories under top/native when
    *native*.

    The daemon holds one descriptor per draft inode the kernel remembers,
    and the kernel forgets them only under memory pressure: registering
    tens of thousands of files in one mount runs it out of descriptors
    (EMFILE). So the registry is made in batches, remounting in between.'''
    store, mnt = pj(top, 'store'), pj(top, 'mnt')
    per_version = (4 if kind == 'meta' else 2)
    t0 = now()
    done = 0
    m = 0
    batch_models = None
    while m < models:
        ctx.mount(store, mnt)
        try:
            if batch_models is None:
                limit = fd_limit(ctx.mounts[mnt])
                batch_models = max(1, int(limit * 0.5) // (per_version * nv))
            last = min(models, m + batch_models)
            w = max(1, min(ctx.args.workers, last - m))
            cuts = [m + (last - m) * i // w for i in range(w + 1)]
            procs = [subprocess.Popen(
                [core.PYTHON, core.PROBE, 'register', kind, pj(mnt, 'models'), str(lo),
                 str(hi), str(nv), 'seal', 'alias' if alias else 'noalias'],
                stdout=subprocess.PIPE, stderr=subprocess.PIPE)
                for lo, hi in zip(cuts, cuts[1:]) if hi > lo]
            failed = []
            for p in procs:
                out, err = p.communicate()
                if p.returncode != 0:
                    failed.append(err.decode(errors='replace').strip()[-1500:])
            if failed:
                raise BenchError('registering %s models %d-%d failed: %s'
                                 % (kind, m, last, failed[0]))
        finally:
            ctx.umount(mnt)
        done += (last - m) * nv
        m = last
        ctx.say('  registered %d/%d versions through the mount (%.0f s)'
                % (done, models * nv, now() - t0))
    if native:
        root = pj(top, 'native', 'models')
        for i in range(models):
            mdir = pj(root, 'm%05d' % i)
            os.makedirs(pj(mdir, 'versions'))
            for v in range(nv):
                files = probe.meta_files(i, v, nv) if kind == 'meta' else probe.scale_files(i, v)
                probe.write_version(pj(mdir, 'versions', probe.version_name(v)), files, False)
            if alias:
                os.symlink('versions/' + probe.version_name(nv - 1), pj(mdir, 'production'))
        os.sync()
    return now() - t0


def fd_limit(pid):
    try:
        with open('/proc/%d/limits' % pid) as f:
            for line in f:
                if line.startswith('Max open files'):
                    return int(line.split()[3])
    except (OSError, ValueError, TypeError):
        pass
    return 1024


def registry_works(ctx, top, models):
    '''A cached store still mounts with this daemon and lists every model.'''
    mnt = pj(ctx.work, 'check-mnt')
    try:
        ctx.mount(pj(top, 'store'), mnt)
        n = len(os.listdir(pj(mnt, 'models')))
    except (BenchError, OSError) as e:
        ctx.say('  cached store does not mount: %s' % e)
        return False
    finally:
        ctx.umount(mnt)
        shutil.rmtree(mnt, ignore_errors=True)
    return n == models


# ----------------------------------------------------------------------------
# 1. Register

def run_register(ctx):
    a = ctx.args
    w = ctx.scratch('register')
    store, mnt = pj(w, 'store'), pj(w, 'mnt')
    large, small = pj(w, 'src-large'), pj(w, 'src-small')
    os.makedirs(large)
    random_file(pj(large, 'model.bin'), a.size_mib * MIB, 11)
    small_tree(small, a.small_files, 12)
    ctx.mount(store, mnt)
    for m in ('large', 'small'):
        os.mkdir(pj(mnt, 'models', m))
    register_case(ctx, w, '%s file' % human_size(a.size_mib), large, True,
                  pj(mnt, 'models', 'large'), a.size_mib * MIB)
    register_case(ctx, w, '%d small files (cp -r)' % a.small_files, small, False,
                  pj(mnt, 'models', 'small'), None)


def register_case(ctx, w, label, src, one_file, model_dir, nbytes):
    a = ctx.args
    dst, repo = pj(w, 'dst'), pj(w, 'repo')
    big = pj(src, 'model.bin')

    def fresh_dst(r):
        shutil.rmtree(dst, ignore_errors=True)
        os.mkdir(dst)
        ctx.settle(src)

    def copy_in(target_dir):
        if one_file:
            ctx.run(['cp', big, pj(target_dir, 'model.bin')])
        else:
            ctx.run(['cp', '-r', src, pj(target_dir, 'tree')])

    parts = {'copy': [], 'seal': []}

    def modelfs(r):
        v = pj(model_dir, 'versions', '1.0.%d' % r)
        t0 = now()
        if one_file:
            os.mkdir(v)
            ctx.run(['cp', big, pj(v, 'model.bin')])
        else:
            ctx.run(['cp', '-r', src, v])
        t1 = now()
        seal(ctx, v)
        t2 = now()
        parts['copy'].append(t1 - t0)
        parts['seal'].append(t2 - t1)
        return t2 - t0

    def cp_sync(r):
        t0 = now()
        copy_in(dst)
        ctx.run(['sync'])
        return now() - t0

    def dd_sync(r):
        t0 = now()
        ctx.run(['dd', 'if=' + big, 'of=' + pj(dst, 'model.bin'), 'bs=1M', 'status=none'])
        ctx.run(['sync'])
        return now() - t0

    def sha_json(r):
        t0 = now()
        copy_in(dst)
        out = ctx.run(['bash', '-c', 'cd "$1" && find . -type f -print0 | sort -z | '
                       'xargs -0 sha256sum', 'sha', dst]).stdout.decode()
        files = []
        for line in out.splitlines():
            digest, path = line.split(None, 1)
            path = path.lstrip('*')
            files.append({'path': path, 'sha256': digest,
                          'size': os.path.getsize(pj(dst, path))})
        with open(pj(dst, 'registry.json'), 'w') as f:
            json.dump({'model': os.path.basename(model_dir), 'version': '1.0.%d' % r,
                       'files': files}, f)
        ctx.run(['sync'])
        return now() - t0

    def git_prep(r):
        if r >= a.git_rounds:
            return
        shutil.rmtree(repo, ignore_errors=True)
        ctx.run(['git', 'init', '-q', repo])
        ctx.settle(src)

    def git_commit(r):
        if r >= a.git_rounds:
            return None
        g = ['git', '-c', 'user.name=modelfs bench', '-c', 'user.email=bench@modelfs.invalid',
             '-c', 'gc.auto=0', '--git-dir', pj(repo, '.git'), '--work-tree', src]
        t0 = now()
        ctx.run(g + ['add', '-A'])
        ctx.run(g + ['commit', '-q', '-m', 'version 1.0.%d' % r])
        ctx.run(['sync'])
        return now() - t0

    variants = [('modelfs', lambda r: ctx.settle(src), modelfs),
                ('cp', fresh_dst, cp_sync)]
    if one_file:
        variants.append(('dd', fresh_dst, dd_sync))
    variants += [('sha', fresh_dst, sha_json), ('git', git_prep, git_commit)]
    res = alternate(a.rounds, variants, after=lambda r: mutate(src))
    shutil.rmtree(dst, ignore_errors=True)
    shutil.rmtree(repo, ignore_errors=True)
    mfs = median(res['modelfs'])
    # The targets: a big file near the disk's pace, many small
    # files within twice native time.
    goal = 0.85 if one_file else 0.5
    refs = [('cp', 'cp + sync', ('ratio', '>=', goal, '≥ %.2g×' % goal)),
            ('dd', 'dd bs=1M + sync', None),
            ('sha', 'cp + sha256sum + JSON registry + sync', None),
            ('git', 'git add + commit + sync', None)]
    for key, name, target in refs:
        if key not in res:
            continue
        ctx.record('register', '%s: into a draft + seal vs %s' % (label, name), 's', mfs,
                   median(res[key]), name, target=target,
                   samples=samples(modelfs=res['modelfs'],
                                   reference=[x for x in res[key] if x is not None]))
    ctx.facts.setdefault('register', {})[label] = samples(**parts)
    ctx.say('[register] %s: modelfs = copy into the draft %s + seal %s (medians)'
            % (label, core.fmt_num(median(parts['copy']), 's'),
               core.fmt_num(median(parts['seal']), 's')))
    if nbytes:
        ctx.say('[register] %s: modelfs %.0f MiB/s, cp + sync %.0f MiB/s'
                % (label, nbytes / MIB / mfs, nbytes / MIB / median(res['cp'])))


# ----------------------------------------------------------------------------
# 2. Read

# key, label, cold, file, probe, target with passthrough, target without
READS = [
    ('seq_warm_cat', 'sequential read of {size}, warm (cat)', False, 'model.bin', 'cat',
     0.98, 0.95),
    ('seq_warm_1m', 'sequential read of {size}, warm (1 MiB reads)', False, 'model.bin', 'seq',
     0.98, 0.95),
    ('rand4k', '{n} random 4 KiB preads in {size}, warm', False, 'model.bin', 'rand',
     None, None),
    ('mmap_warm', 'mmap of {size}, touch every page, warm', False, 'model.bin', 'mmap',
     0.95, None),
    ('npy', 'numpy.load(mmap_mode="r") of a {size} .npy + strided sum, warm', False,
     'weights.npy', 'npy', 0.95, None),
    ('safetensors', 'safetensors-style load of {size}, touch every page, warm', False,
     'model.safetensors', 'safetensors', 0.95, None),
    ('seq_cold_cat', 'sequential read of {size}, cold (cat)', True, 'model.bin', 'cat',
     0.9, 0.9),
    ('seq_cold_1m', 'sequential read of {size}, cold (1 MiB reads)', True, 'model.bin', 'seq',
     0.9, 0.9),
    ('mmap_cold', 'mmap of {size}, touch every page, cold', True, 'model.bin', 'mmap',
     0.95, None),
]


def run_read(ctx):
    a = ctx.args
    w = ctx.scratch('read')
    native, store = pj(w, 'native'), pj(w, 'store')
    size = a.size_mib * MIB
    os.makedirs(native)
    random_file(pj(native, 'model.bin'), size, 21)
    npy_file(pj(native, 'weights.npy'), size, 22)
    safetensors_file(pj(native, 'model.safetensors'), size, 23)
    os.sync()
    if not ctx.cold_ok:
        ctx.note('read: cold measurements skipped (dropping caches needs root)')
    first = True
    for mode, opts in ctx.modes:
        mnt = pj(w, 'mnt')
        ctx.mount(store, mnt, opts)
        try:
            mdir = pj(mnt, 'models', 'read')
            if first:
                os.mkdir(mdir)
                ctx.run(['cp', '-r', native, pj(mdir, 'versions', '1.0.0')])
                seal(ctx, pj(mdir, 'versions', '1.0.0'))
                ctx.run(['ln', '-sfn', 'versions/1.0.0', 'production'], cwd=mdir)
                first = False
            read_mode(ctx, mode, native, pj(mdir, 'production'))
        finally:
            ctx.umount(mnt)


def read_mode(ctx, mode, native, served):
    a = ctx.args
    pt = mode == 'modelfs' and ctx.passthrough
    if mode == 'modelfs' and not ctx.passthrough:
        ctx.note('the daemon offers no passthrough (-o nopassthrough absent): "modelfs" '
                 'reads are the splice path and are held to the fallback targets')
    for key, label, cold, name, how, t_pt, t_fb in READS:
        if cold and not ctx.cold_ok:
            continue
        label = label.format(size=human_size(a.size_mib), n='{:,}'.format(a.rand_reads))
        paths = {'modelfs': pj(served, name), 'native': pj(native, name)}

        def measure(side, r, how=how, paths=paths):
            p = paths[side]
            if how == 'cat':
                return ctx.timed(['cat', p])
            if how == 'seq':
                return ctx.probe('seq', p, MIB)['seconds']
            if how == 'rand':
                return ctx.probe('rand', p, a.rand_reads, 1000 + r)
            return ctx.probe(how, p)['seconds']

        if cold:
            prep = lambda r: ctx.drop()     # noqa: E731
        else:
            prep = None
            ctx.warm(paths['native'], paths['modelfs'])
        res = alternate(a.rounds, [
            ('modelfs', prep, lambda r, m=measure: m('modelfs', r)),
            ('native', prep, lambda r, m=measure: m('native', r))])
        extra = {}
        if how == 'rand':
            lat = {s: [x['p99_us'] for x in res[s]] for s in res}
            extra = {'p50_us': {s: median([x['p50_us'] for x in res[s]]) for s in res},
                     'p99_us': {s: median(lat[s]) for s in res}}
            res = {s: [x['seconds'] for x in res[s]] for s in res}
        t = t_pt if pt else t_fb
        target = None if t is None else ('ratio', '>=', t, '≥ %.2f×' % t)
        ctx.record('read', label, 's',
                   median(res['modelfs']), median(res['native']), 'plain file',
                   mode=mode, target=target, extra=extra,
                   samples=samples(modelfs=res['modelfs'], reference=res['native']))
        if extra:
            ctx.say('[read] %s: per-call p50 %.1f / %.1f us, p99 %.1f / %.1f us '
                    '(modelfs / plain file)' % (label, extra['p50_us']['modelfs'],
                                                extra['p50_us']['native'],
                                                extra['p99_us']['modelfs'],
                                                extra['p99_us']['native']))


# ----------------------------------------------------------------------------
# 3. Metadata

def meta_registry(ctx):
    '''The metadata registry (models x versions, with production aliases,
    and its plain twin), cached: (top, reused).'''
    M, V = ctx.args.meta_models, ctx.args.meta_versions
    return ctx.cached(
        'metadata-%dx%d' % (M, V), {'models': M, 'versions': V},
        lambda d: ctx.say('  built in %.0f s' % build_registry(ctx, d, 'meta', M, V, True, True)),
        lambda d: registry_works(ctx, d, M))


def run_metadata(ctx):
    a = ctx.args
    M, V = a.meta_models, a.meta_versions
    w = ctx.scratch('metadata')
    top, reused = meta_registry(ctx)
    ctx.facts['metadata'] = {'models': M, 'versions': M * V, 'cached': reused}
    mnt = pj(w, 'mnt')
    ctx.mount(pj(top, 'store'), mnt)
    roots = {'modelfs': pj(mnt, 'models'), 'native': pj(top, 'native', 'models')}
    files = sorted(os.path.relpath(pj(d, n), roots['native'])
                   for d, _, ns in os.walk(roots['native']) for n in ns)
    listfile = pj(w, 'files.txt')
    with open(listfile, 'w') as f:
        f.write('\n'.join(files) + '\n')
    for side, root in roots.items():
        n = sum(len(ds) + len(ns) for _, ds, ns in os.walk(root))
        ctx.facts['metadata']['entries_' + side] = n
    ctx.say('[metadata] %d models x %d versions, %d files; entries: modelfs %d (with its '
            'virtual files), plain tree %d' % (M, V, len(files),
                                               ctx.facts['metadata']['entries_modelfs'],
                                               ctx.facts['metadata']['entries_native']))
    size = '%d models × %d versions' % (M, V)
    walk_target = ('ratio', '>=', 0.5, '≥ 0.5× (≤ 2× native time)')
    for label, cmd in (('ls -lR', ['ls', '-lR']), ('find -type f', ['find'])):
        for cold in (True, False):
            if cold and not ctx.cold_ok:
                continue

            def run(side, cmd=cmd, label=label):
                c = cmd + [roots[side]] + (['-type', 'f'] if label.startswith('find') else [])
                return ctx.timed(c)
            prep = (lambda r: ctx.drop()) if cold else None
            if not cold:
                run('modelfs')
                run('native')
            res = alternate(a.meta_rounds, [('modelfs', prep, lambda r, f=run: f('modelfs')),
                                       ('native', prep, lambda r, f=run: f('native'))])
            ctx.record('metadata', '%s of %s, %s' % (label, size, 'cold' if cold else 'warm'),
                       's', median(res['modelfs']), median(res['native']), 'plain tree',
                       target=walk_target,
                       samples=samples(modelfs=res['modelfs'], reference=res['native']))
    queries = [('auc-production', 'metrics.auc >= 0.9 and alias == "production"'),
               ('fraud', 'tags contains "fraud"')]
    for q, expr in queries:
        def find(r, expr=expr):
            t0 = now()
            out = ctx.run([ctx.modelctl, '-s', pj(top, 'store'), '--json', 'find', expr]).stdout
            return {'seconds': now() - t0, 'hits': len(json.loads(out))}
        res = alternate(a.rounds, [
            ('modelfs', None, find),
            ('native', None, lambda r, q=q: ctx.probe('metafind', roots['native'], q))])
        hits = {s: res[s][0]['hits'] for s in res}
        if hits['modelfs'] != hits['native']:
            raise BenchError('modelctl find %r found %d versions, the plain tree %d'
                             % (expr, hits['modelfs'], hits['native']))
        secs = {s: [x['seconds'] for x in res[s]] for s in res}
        ctx.record('metadata', "`modelctl find '%s'` (%d hits)" % (expr, hits['modelfs']), 's',
                   median(secs['modelfs']), median(secs['native']),
                   'scan of every metadata.json', samples=samples(
                       modelfs=secs['modelfs'], reference=secs['native']))
    for side in roots:
        ctx.probe('stat', listfile, roots[side])
    res = alternate(a.meta_rounds, [
        ('modelfs', None, lambda r: ctx.probe('stat', listfile, roots['modelfs'])),
        ('native', None, lambda r: ctx.probe('stat', listfile, roots['native']))])
    pick = {s: {k: [x[k] for x in res[s]] for k in ('seconds', 'p50_us', 'p99_us')}
            for s in res}
    ctx.record('metadata', 'os.stat of every file (%d), warm, total' % len(files), 's',
               median(pick['modelfs']['seconds']), median(pick['native']['seconds']),
               'plain tree', target=walk_target,
               samples=samples(modelfs=pick['modelfs']['seconds'],
                               reference=pick['native']['seconds']))
    ctx.record('metadata', 'os.stat per call p50, warm', 'us',
               median(pick['modelfs']['p50_us']), median(pick['native']['p50_us']),
               'plain tree', kind='latency',
               samples=samples(modelfs=pick['modelfs']['p50_us'],
                               reference=pick['native']['p50_us']))
    ctx.record('metadata', 'os.stat per call p99, warm', 'us',
               median(pick['modelfs']['p99_us']), median(pick['native']['p99_us']),
               'plain tree', kind='latency', target=('modelfs', '<', 100, 'p99 < 100 µs'),
               samples=samples(modelfs=pick['modelfs']['p99_us'],
                               reference=pick['native']['p99_us']))


# ----------------------------------------------------------------------------
# 4. Promotion

def run_promotion(ctx):
    a = ctx.args
    w = ctx.scratch('promotion')
    store, mnt = pj(w, 'store'), pj(w, 'mnt')
    ndir = pj(w, 'native', 'promo')
    mdir = pj(mnt, 'models', 'promo')
    vers = ['1.0.0', '1.1.0']
    ctx.mount(store, mnt)
    os.mkdir(mdir)
    for i, v in enumerate(vers):
        nv = pj(ndir, 'versions', v)
        os.makedirs(nv)
        random_file(pj(nv, 'data.bin'), a.promo_mib * MIB, 40 + i)
        with open(pj(nv, 'VERSION'), 'w') as f:
            f.write(v + '\n')
        with open(pj(nv, 'metadata.json'), 'w') as f:
            json.dump({'dataset_snapshot_id': 'snap-' + v, 'metrics': {'auc': 0.9}}, f)
        ctx.run(['cp', '-r', nv, pj(mdir, 'versions', v)])
        seal(ctx, pj(mdir, 'versions', v))
    for d in (mdir, ndir):
        ctx.run(['ln', '-sfn', 'versions/' + vers[0], 'production'], cwd=d)
    ctx.warm(*[pj(mdir, 'versions', v, 'data.bin') for v in vers])
    dirs = {'modelfs': mdir, 'native': ndir}
    idle = swap_loop(dirs, vers, a.promo_iters)
    # The same moves under a policy whose rule for production has gates
    # (metadata keys, a metric, a file, a history lookup) and on_replace.
    policy = {'aliases': {'production': {
        'gates': {'required_keys': ['dataset_snapshot_id'], 'metrics.auc': '>= 0.5',
                  'required_files': ['VERSION'], 'been_at': 'production'},
        'on_replace': 'deprecated'}}}
    with open(pj(mdir, 'policy.json'), 'w') as f:
        json.dump(policy, f)
    governed = swap_loop(dirs, vers, a.promo_iters)
    with open(pj(mdir, 'policy.json'), 'w') as f:
        f.write('{}')
    # Right after a registration: the daemon still owes the new blobs'
    # SHA-256 digests and the disk still writes them back. Each side
    # registers the same tree (modelfs: cp -r + seal; native: cp -r + sync),
    # then the moves are timed at once, alternating sides.
    reg = pj(w, 'registration')
    os.makedirs(reg)
    random_file(pj(reg, 'weights.bin'), a.promo_reg_mib * MIB, 50)
    small_tree(pj(reg, 'shards'), a.promo_reg_files, 51)
    ctx.run(['cp', '-r', reg, pj(ndir, 'versions', '2.0.0')])
    ctx.run(['sync'])
    ctx.run(['cp', '-r', reg, pj(mdir, 'versions', '2.0.0')])
    seal(ctx, pj(mdir, 'versions', '2.0.0'))
    after_reg = swap_loop(dirs, vers, a.promo_iters)
    reg_label = ' (no readers, right after registering %s and %s files)' % (
        human_size(a.promo_reg_mib), '{:,}'.format(a.promo_reg_files))
    stop = pj(w, 'stop')
    readers = [subprocess.Popen([core.PYTHON, core.PROBE, 'stream',
                                 pj(mdir, 'production', 'data.bin'), stop],
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE)
               for _ in range(a.promo_readers)]
    try:
        time.sleep(0.5)
        ln = {'modelfs': [], 'native': []}
        seen = {'modelfs': [], 'native': []}
        stale = {'modelfs': 0, 'native': 0}
        t_run = now()
        for i in range(a.promo_iters):
            want = vers[(i + 1) % 2]
            for side in (('modelfs', 'native') if i % 2 == 0 else ('native', 'modelfs')):
                d = dirs[side]
                t0 = now()
                ctx.run(['ln', '-sfn', 'versions/' + want, 'production'], cwd=d)
                t1 = now()
                ln[side].append(t1 - t0)
                delay, n = first_seen(pj(d, 'production', 'VERSION'), want)
                seen[side].append(delay)
                stale[side] += n
        sys_ = swap_loop(dirs, vers, a.promo_iters)
        t_run = now() - t_run
    finally:
        with open(stop, 'w'):
            pass
        outs = []
        for p in readers:
            try:
                out, _ = p.communicate(timeout=60)
                outs.append(json.loads(out.decode().strip().splitlines()[-1]))
            except (subprocess.TimeoutExpired, ValueError, IndexError):
                p.kill()
                p.wait()
    ms = lambda xs: [x * 1e3 for x in xs]           # noqa: E731
    us = lambda xs: [x * 1e6 for x in xs]           # noqa: E731
    sfx = ' (%d readers streaming)' % a.promo_readers
    for p, tgt in ((50, None), (99, ('modelfs', '<', 2.0, 'p99 < 2 ms'))):
        ctx.record('promotion', '`ln -sfn` p%d%s' % (p, sfx), 'ms',
                   core.pctl(ms(ln['modelfs']), p), core.pctl(ms(ln['native']), p),
                   'plain directory', target=tgt,
                   samples=samples(modelfs=ms(ln['modelfs']), reference=ms(ln['native'])))
    for res, when in ((sys_, sfx), (idle, ' (no readers)'),
                      (governed, ' (no readers, policy with gates)'),
                      (after_reg, reg_label)):
        for p in (50, 99):
            tgt = ('modelfs', '<', 2.0, 'p99 < 2 ms') if res is after_reg and p == 99 else None
            ctx.record('promotion', 'symlink + rename syscalls p%d%s' % (p, when), 'ms',
                       core.pctl(ms(res['modelfs']), p), core.pctl(ms(res['native']), p),
                       'plain directory', target=tgt,
                       samples=samples(modelfs=ms(res['modelfs']), reference=ms(res['native'])))
    ctx.record('promotion', 'from ln\'s return until a fresh open has read the new VERSION, p99', 'us',
               core.pctl(us(seen['modelfs']), 99), core.pctl(us(seen['native']), 99),
               'plain directory', kind='latency',
               samples=samples(modelfs=us(seen['modelfs']), reference=us(seen['native'])))
    ctx.record('promotion', 'fresh opens that still saw the old version (of %d)'
               % a.promo_iters, 'count', stale['modelfs'], stale['native'], 'plain directory',
               kind='count', ratio=None, target=('modelfs', '==', 0, '0 (seen at once)'))
    total = sum(o['bytes'] for o in outs)
    errors = sum(o['errors'] for o in outs)
    ctx.facts['promotion'] = {'reader_bytes': total, 'reader_errors': errors,
                              'readers_reported': len(outs), 'seconds': t_run}
    ctx.record('promotion', 'reader errors during promotions', 'count', errors, kind='count',
               ratio=None)
    ctx.say('[promotion] readers streamed %.0f MiB/s in total while the alias moved'
            % (total / MIB / max(1e-9, t_run)))


def swap_loop(dirs, vers, iters):
    '''Move production back and forth the way ln -sfn does it, in system
    calls only (symlink under a temporary name, rename onto the alias),
    alternating sides; returns {side: [seconds]}.'''
    out = {side: [] for side in dirs}
    for i in range(iters):
        want = vers[i % 2]
        for side in (('modelfs', 'native') if i % 2 == 0 else ('native', 'modelfs')):
            dfd = os.open(dirs[side], os.O_RDONLY | os.O_DIRECTORY)
            try:
                t0 = now()
                os.symlink('versions/' + want, '.promote.tmp', dir_fd=dfd)
                os.rename('.promote.tmp', 'production', src_dir_fd=dfd, dst_dir_fd=dfd)
                out[side].append(now() - t0)
            finally:
                os.close(dfd)
    return out


def first_seen(path, want, timeout=5.0):
    '''Seconds from now until an open of *path* reads *want*, and how many
    opens before that read something else.'''
    t0 = now()
    stale = 0
    while True:
        try:
            with open(path) as f:
                got = f.read().strip()
        except OSError:
            got = None
        if got == want:
            return now() - t0, stale
        stale += 1
        if now() - t0 > timeout:
            raise BenchError('%s still reads %r %.0f s after the alias moved to %s'
                             % (path, got, timeout, want))


# ----------------------------------------------------------------------------
# 5. Scale

def status_kib(pid):
    out = {}
    with open('/proc/%d/status' % pid) as f:
        for line in f:
            k, _, v = line.partition(':')
            if k in ('VmRSS', 'RssAnon', 'RssFile'):
                out[k] = int(v.split()[0])
    return out


def run_scale(ctx):
    a = ctx.args
    w = ctx.scratch('scale')
    stores = {}
    for label, n in (('large', a.scale_versions), ('small', a.scale_small)):
        nv = min(a.scale_per_model, n)
        models = max(1, n // nv)
        key = 'scale-%dx%d' % (models, nv)
        top, reused = ctx.cached(
            key, {'models': models, 'versions': nv},
            lambda d, m=models, v=nv: ctx.say('  built in %.0f s' % build_registry(
                ctx, d, 'scale', m, v, False, False)),
            lambda d, m=models: registry_works(ctx, d, m))
        stores[label] = {'store': pj(top, 'store'), 'models': models, 'versions': models * nv,
                         'cached': reused}
    ctx.facts['scale'] = {k: dict(v) for k, v in stores.items()}
    # modelctl reads the store itself whenever it may open it: only a user
    # who may not (the store is the daemon's, mode 0700) goes through the
    # mount. Root runs it as nobody, if nobody can reach the mount point.
    as_nobody = ['setpriv', '--reuid=nobody', '--regid=nogroup', '--clear-groups']
    probe_mnt = pj(w, 'mnt-large')
    os.makedirs(probe_mnt, exist_ok=True)
    if not ctx.root:
        as_nobody = None
        ctx.note('scale: `modelctl -m` through the mount skipped (it reads the store '
                 'directly unless run as a user who may not open it, which needs root)')
    elif ctx.run(as_nobody + ['test', '-x', probe_mnt], check=False).returncode != 0:
        as_nobody = None
        ctx.note('scale: `modelctl -m` through the mount skipped (user nobody cannot reach '
                 '%s)' % probe_mnt)

    def measure(label, r):
        s = stores[label]
        mnt = pj(w, 'mnt-' + label)
        models = pj(mnt, 'models')
        res = {}
        res['start'] = ctx.mount(s['store'], mnt)
        t0 = now()
        n = int(ctx.run(['bash', '-c', 'ls "$1" | wc -l', 'ls', models]).stdout)
        res['first_ls'] = res['start'] + now() - t0
        ctx.umount(mnt)
        if n != s['models']:
            raise BenchError('ls %s listed %d models, expected %d' % (models, n, s['models']))
        if ctx.cold_ok:
            ctx.drop()
            res['start_cold'] = ctx.mount(s['store'], mnt)
            ctx.umount(mnt)
        ctx.mount(s['store'], mnt)
        try:
            pid = ctx.mounts[mnt]
            if pid is None:
                raise BenchError('no daemon process found for %s' % mnt)
            res['rss_start'] = status_kib(pid)
            t0 = now()
            out = ctx.run([ctx.modelctl, '-s', s['store'], 'list']).stdout
            res['list_direct'] = now() - t0
            if len(out.splitlines()) - 1 != s['models']:
                raise BenchError('modelctl list printed %d models, expected %d'
                                 % (len(out.splitlines()) - 1, s['models']))
            res['rss_list'] = status_kib(pid)
            ctx.run(['bash', '-c', 'ls "$1" | wc -l', 'ls', models])
            res['rss_ls'] = status_kib(pid)
            if as_nobody:
                t0 = now()
                ctx.run(as_nobody + [ctx.modelctl, '-m', mnt, 'list'])
                res['list_mount'] = now() - t0
                res['rss_list_mount'] = status_kib(pid)
        finally:
            ctx.umount(mnt)
        return res

    res = alternate(a.rounds, [('large', None, lambda r: measure('large', r)),
                               ('small', None, lambda r: measure('small', r))])

    def col(label, key, sub=None, scale=1.0):
        xs = [x[key][sub] if sub else x[key] for x in res[label] if key in x]
        return [v * scale for v in xs]

    big, sm = stores['large']['versions'], stores['small']['versions']
    vs = '%s vs %s versions' % ('{:,}'.format(big), '{:,}'.format(sm))
    ref = '{:,} versions'.format(sm)
    rows = [('start', 'start-up: exec → mount live', ('modelfs', '<', 100, '< 100 ms')),
            ('first_ls', 'start-up: exec → first `ls models` answered', None),
            ('start_cold', 'start-up, caches dropped: exec → mount live', None),
            ('list_direct', '`modelctl -s STORE list`', None),
            ('list_mount', '`modelctl -m MNT list` (through the mount)', None)]
    for key, label, target in rows:
        L, S = col('large', key, scale=1e3), col('small', key, scale=1e3)
        if not L:
            continue
        ctx.record('scale', '%s (%s)' % (label, vs), 'ms', median(L), median(S), ref,
                   target=target, samples=samples(modelfs=L, reference=S))
    for key, label in (('rss_start', 'after start'), ('rss_list', 'after `modelctl list`'),
                       ('rss_ls', 'after `ls models | wc -l`'),
                       ('rss_list_mount', 'after `modelctl -m MNT list`')):
        for field, target in (('VmRSS', ('modelfs', '<', 64, '< 64 MiB')), ('RssAnon', None)):
            L, S = col('large', key, field, 1 / 1024), col('small', key, field, 1 / 1024)
            if not L:
                continue
            ctx.record('scale', 'daemon %s %s (%s)' % (field, label, vs), 'MiB', median(L),
                       median(S), ref, kind='rss', target=target,
                       samples=samples(modelfs=L, reference=S))
        F = col('large', key, 'RssFile', 1 / 1024)
        if F:
            ctx.say('[scale] of the VmRSS %s, file-backed (RssFile: the binary, its '
                    'libraries and the pages of the LMDB map, all page cache): %.1f MiB at %s '
                    'versions' % (label, median(F), '{:,}'.format(big)))


# ----------------------------------------------------------------------------
# 6. Dedup

def run_dedup(ctx):
    a = ctx.args
    w = ctx.scratch('dedup')
    store, mnt = pj(w, 'store'), pj(w, 'mnt')
    src = pj(w, 'big.bin')
    size = a.size_mib * MIB
    random_file(src, size, 61)
    ctx.mount(store, mnt)
    mdir = pj(mnt, 'models', 'shared')
    os.mkdir(mdir)
    os.sync()
    before, content_before = store_bytes(store)
    small = 0
    t_cp, t_seal = [], []
    t0 = now()
    for i in range(a.dedup_versions):
        v = pj(mdir, 'versions', '1.%d.0' % i)
        t1 = now()
        os.mkdir(v)
        ctx.run(['cp', src, pj(v, 'model.bin')])
        for name, text in (('config.json', json.dumps({'version': i, 'lr': 0.001 * (i + 1)})),
                           ('README.md', '# shared, version 1.%d.0\n' % i)):
            with open(pj(v, name), 'w') as f:
                f.write(text)
            small += len(text)
        t2 = now()
        seal(ctx, v)
        t_cp.append(t2 - t1)
        t_seal.append(now() - t2)
    secs = now() - t0
    os.sync()
    after, content_after = store_bytes(store)
    growth = after - before
    logical = a.dedup_versions * size + small
    ctx.facts['dedup'] = {'versions': a.dedup_versions, 'file_bytes': size,
                          'logical_bytes': logical, 'store_bytes_before': before,
                          'store_bytes_after': after, 'store_growth_bytes': growth,
                          'content_growth_bytes': content_after - content_before,
                          'register_seconds': secs,
                          'copy_seconds': samples(x=t_cp)['x'], 'seal_seconds': samples(x=t_seal)['x']}
    lim = 1.05 * size / GIB
    ctx.record('dedup', 'store growth on disk (du), %d versions sharing one %s file'
               % (a.dedup_versions, human_size(a.size_mib)), 'GiB', growth / GIB,
               logical / GIB, '%d× the logical size' % a.dedup_versions, kind='space',
               target=('modelfs', '<=', lim, '≤ ' + core.fmt_num(lim, 'GiB')))
    ctx.say('[dedup] registered %d versions in %.1f s (per version: copy into the draft '
            '%s, seal %s, medians); store %.3f GiB before, %.3f GiB after'
            % (a.dedup_versions, secs, core.fmt_num(median(t_cp), 's'),
               core.fmt_num(median(t_seal), 's'), before / GIB, after / GIB))


# ----------------------------------------------------------------------------
# 7. Instant copy

def run_copy(ctx):
    a = ctx.args
    w = ctx.scratch('copy')
    store, mnt = pj(w, 'store'), pj(w, 'mnt')
    src = pj(w, 'native', 'v1')
    os.makedirs(src)
    random_file(pj(src, 'model.bin'), a.size_mib * MIB, 71)
    for name, text in (('config.json', '{"hidden": 1024, "layers": 24}\n'),
                       ('tokenizer.json', json.dumps({'vocab': ['a%d' % i for i in range(500)]})),
                       ('README.md', '# copy source\n')):
        with open(pj(src, name), 'w') as f:
            f.write(text)
    ctx.mount(store, mnt)
    mdir = pj(mnt, 'models', 'copy')
    os.mkdir(mdir)
    ctx.run(['cp', '-r', src, pj(mdir, 'versions', '1.0.0')])
    seal(ctx, pj(mdir, 'versions', '1.0.0'))
    sealed = pj(mdir, 'versions', '1.0.0')
    dst = pj(w, 'native', 'copy')
    extra = {'cp': [], 'seal': [], 'native': [], 'meta': []}

    def settle(r):
        shutil.rmtree(dst, ignore_errors=True)
        ctx.drop()
        ctx.warm(src, sealed)

    def modelfs(r):
        v = pj(mdir, 'versions', '2.%d.0' % r)
        total0, content0 = store_bytes(store)
        t0 = now()
        ctx.run(['cp', '-r', sealed, v])
        t_cp = now() - t0
        os.sync()
        extra['cp'].append(store_bytes(store)[1] - content0)
        t0 = now()
        seal(ctx, v)
        t_seal = now() - t0
        os.sync()
        total1, content1 = store_bytes(store)
        extra['seal'].append(content1 - content0)
        extra['meta'].append((total1 - content1) - (total0 - content0))
        return t_cp + t_seal

    def native(r):
        t0 = now()
        ctx.run(['cp', '-r', src, dst])
        ctx.run(['sync'])
        secs = now() - t0
        extra['native'].append(du(dst))
        return secs

    res = alternate(a.rounds, [('modelfs', settle, modelfs), ('native', settle, native)])
    label = 'version holding a %s file' % human_size(a.size_mib)
    ctx.record('copy', '`cp -r` of a sealed %s + seal vs `cp -r` + sync' % label, 's',
               median(res['modelfs']), median(res['native']), 'plain directory',
               target=('ratio', '>=', 20, '≥ 20×'),
               samples=samples(modelfs=res['modelfs'], reference=res['native']))
    mib = lambda xs: [x / MIB for x in xs]            # noqa: E731
    ctx.record('copy', 'extra store content after `cp -r` (draft, before seal)', 'MiB',
               median(mib(extra['cp'])), median(mib(extra['native'])),
               'plain copy on disk', kind='bytes', ratio=None,
               target=('modelfs', '==', 0, '0 bytes'),
               samples=samples(modelfs=mib(extra['cp']), reference=mib(extra['native'])))
    ctx.record('copy', 'extra store content after the seal', 'MiB',
               median(mib(extra['seal'])), median(mib(extra['native'])), 'plain copy on disk',
               kind='bytes', ratio=None, target=('modelfs', '==', 0, '0 bytes'),
               samples=samples(modelfs=mib(extra['seal']), reference=mib(extra['native'])))
    ctx.facts['copy'] = {'meta_growth_bytes': extra['meta']}
    ctx.say('[copy] the store\'s metadata (LMDB) grew by %s bytes per copy'
            % ', '.join(str(x) for x in extra['meta']))


# ----------------------------------------------------------------------------
# 8. Multihost

PG_SH = pj(core.ROOT, 'tests', 'pg.sh')


class Postgres:
    '''A throwaway PostgreSQL cluster (tests/pg.sh) in a new directory under
    /tmp. A guardian outside our process group stops it and removes the
    directory once the pipe to it closes: when the with block ends, or when
    this process dies, however it dies.'''

    def __init__(self, ctx):
        self.ctx = ctx
        self.dir = tempfile.mkdtemp(prefix='modelfs-bench-pg.', dir='/tmp')
        r, self.guard_fd = os.pipe()
        self.guard = subprocess.Popen(
            ['/bin/sh', '-c', 'cat >/dev/null; "$0" stop "$1" >/dev/null 2>&1; rm -rf "$1"',
             PG_SH, self.dir], stdin=r, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
            start_new_session=True)
        os.close(r)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        os.close(self.guard_fd)
        self.guard.wait()

    def sh(self, *args):
        '''tests/pg.sh CMD DIR ARGS...; returns what it prints (a URI).'''
        return self.ctx.run([PG_SH, args[0], self.dir] + list(args[1:])).stdout.decode().strip()


def mem_available():
    with open('/proc/meminfo') as f:
        for line in f:
            if line.startswith('MemAvailable:'):
                return int(line.split()[1]) * 1024
    return 0


def log_problems(path, pattern):
    '''The lines of the log at *path* that match *pattern*.'''
    try:
        with open(path, errors='replace') as f:
            return [x.rstrip() for x in f if re.search(pattern, x)]
    except OSError:
        return []


def run_multihost(ctx):
    '''The registry in PostgreSQL against the registry in LMDB, both copies
    of the cached metadata registry (modelctl migrate). Hosts: lmdb (the
    LMDB copy), a (its PostgreSQL twin), b (a second daemon on a's database
    and blobs), t (an empty registry in another database whose blobs are on
    a tmpfs, when root and RAM allow).'''
    a = ctx.args
    w = ctx.scratch('multihost')
    top, reused = meta_registry(ctx)
    facts = ctx.facts['multihost'] = {'models': a.meta_models,
                                      'versions': a.meta_models * a.meta_versions,
                                      'cached': reused}
    stores = {h: pj(w, 'store-' + h) for h in ('lmdb', 'a', 'b', 't')}
    mnts = {h: pj(w, 'mnt-' + h) for h in stores}
    logs = {h: pj(w, 'logs', h + '.log') for h in stores}
    blobs, tmpfs = pj(w, 'blobs'), pj(w, 'tmpfs')
    os.mkdir(pj(w, 'logs'))
    need = a.size_mib * MIB + 64 * MIB
    with Postgres(ctx) as pg:
        try:
            pg.sh('start')
            uri, uri_t = pg.sh('createdb', 'registry'), pg.sh('createdb', 'tmpfs')
            for h in ('lmdb', 'a'):
                ctx.run([ctx.modelctl, '-s', pj(top, 'store'), 'migrate', '--to',
                         'lmdb:' + stores[h]])
            t0 = now()
            out = ctx.run([ctx.modelctl, '--json', '-s', stores['a'], 'migrate', '--to', uri,
                           '--blobs', blobs]).stdout
            facts['migrate'] = dict(json.loads(out), seconds=now() - t0)
            ctx.say('[multihost] migrated %s versions into PostgreSQL in %.1f s (%d blobs)'
                    % ('{:,}'.format(facts['versions']), facts['migrate']['seconds'],
                       facts['migrate']['blobs']))
            if os.stat(blobs).st_dev != os.stat(stores['a']).st_dev:
                raise BenchError('%s is not on the filesystem of %s' % (blobs, stores['a']))
            opts = {'lmdb': [], 'a': [], 'b': ['db=' + uri, 'blobs=' + blobs]}
            if ctx.root and (a.smoke or mem_available() >= 2 * need):
                os.mkdir(tmpfs)
                ctx.run(['mount', '-t', 'tmpfs', '-o', 'size=%d,mode=0700' % need, 'tmpfs',
                         tmpfs])
                opts['t'] = ['db=' + uri_t, 'blobs=' + pj(tmpfs, 'blobs')]
            else:
                ctx.note('multihost: no seal onto a tmpfs (needs root and %.1f GiB of RAM '
                         'free twice over)' % (need / GIB))
            for h, o in opts.items():
                ctx.mount(stores[h], mnts[h], o, log=logs[h])
            roots = {h: pj(mnts[h], 'models') for h in opts}
            mh_walk(ctx, roots)
            mh_find(ctx, stores)
            mh_promotion(ctx, roots)
            mh_seal(ctx, w, roots)
        finally:
            facts['daemon_exit'] = {h: ctx.umount(m) for h, m in mnts.items()
                                    if m in ctx.mounts}
            if os.path.ismount(tmpfs) and ctx.run(['umount', tmpfs], check=False).returncode:
                ctx.run(['umount', '-l', tmpfs], check=False)
            facts['daemon_log'] = {h: log_problems(p, r'^(?!modelfs: info: )')
                                   for h, p in logs.items()}
            facts['postgresql_log'] = log_problems(pj(pg.dir, 'log'),
                                                   r'\b(WARNING|ERROR|FATAL|PANIC):')
            mh_problems(ctx, facts)


def mh_problems(ctx, facts):
    '''Say what the daemons and the server logged beyond "info", and any
    daemon that did not exit 0.'''
    for h, code in facts['daemon_exit'].items():
        if code:
            ctx.note('multihost: the daemon of host %s exited %s at unmount' % (h, code))
    logs = [('the daemon of host ' + h, lines) for h, lines in facts['daemon_log'].items()]
    for who, lines in logs + [('the PostgreSQL server', facts['postgresql_log'])]:
        if lines:
            ctx.note('multihost: %s logged %d warnings or errors (facts in latest.json), '
                     'first: %s' % (who, len(lines), lines[0][:300]))


def mh_walk(ctx, roots):
    '''ls -lR through host a's mount vs through the LMDB copy's, warm.'''
    a = ctx.args
    sides = {'pg': roots['a'], 'lmdb': roots['lmdb']}
    lines = {s: len(ctx.run(['ls', '-lR', p]).stdout.splitlines()) for s, p in sides.items()}
    if lines['pg'] != lines['lmdb']:
        raise BenchError('ls -lR printed %d lines through PostgreSQL, %d through LMDB'
                         % (lines['pg'], lines['lmdb']))
    res = alternate(a.meta_rounds, [(s, None, lambda r, p=p: ctx.timed(['ls', '-lR', p]))
                                    for s, p in sides.items()])
    ctx.record('multihost', 'ls -lR of %d models × %d versions through the mount, warm'
               % (a.meta_models, a.meta_versions), 's', median(res['pg']),
               median(res['lmdb']), 'LMDB', samples=samples(modelfs=res['pg'],
                                                            reference=res['lmdb']))


def mh_find(ctx, stores):
    '''modelctl -s STORE find over the whole registry, each engine.'''
    a = ctx.args
    expr = 'metrics.auc >= 0.9'

    def find(h):
        t0 = now()
        out = ctx.run([ctx.modelctl, '-s', stores[h], 'find', expr]).stdout
        return {'seconds': now() - t0, 'hits': sorted(out.decode().splitlines()[1:])}
    res = alternate(a.rounds, [('pg', None, lambda r: find('a')),
                               ('lmdb', None, lambda r: find('lmdb'))])
    hits = {s: res[s][0]['hits'] for s in res}
    if hits['pg'] != hits['lmdb']:
        raise BenchError('modelctl find %r: %d hits in PostgreSQL, %d in LMDB, or others'
                         % (expr, len(hits['pg']), len(hits['lmdb'])))
    secs = {s: [x['seconds'] for x in res[s]] for s in res}
    ctx.record('multihost', "`modelctl find '%s'` over %s versions (%d hits)"
               % (expr, '{:,}'.format(a.meta_models * a.meta_versions), len(hits['pg'])),
               's', median(secs['pg']), median(secs['lmdb']), 'LMDB',
               target=('modelfs', '<', 1.0, '< 1 s'),
               samples=samples(modelfs=secs['pg'], reference=secs['lmdb']))


def mh_promotion(ctx, roots):
    '''ln -sfn on host a, then fresh opens of production/VERSION on host b
    until one reads the new version; for LMDB, both on its one mount.'''
    a = ctx.args
    vers = ['1.0.0', '1.1.0']
    sides = {'pg': (pj(roots['a'], 'mh-promo'), pj(roots['b'], 'mh-promo')),
             'lmdb': (pj(roots['lmdb'], 'mh-promo'),) * 2}
    for mdir, seer in sides.values():
        os.mkdir(mdir)
        for v in vers:
            vdir = pj(mdir, 'versions', v)
            os.mkdir(vdir)
            with open(pj(vdir, 'VERSION'), 'w') as f:
                f.write(v + '\n')
            seal(ctx, vdir)
        ctx.run(['ln', '-sfn', 'versions/' + vers[0], 'production'], cwd=mdir)
        first_seen(pj(seer, 'production', 'VERSION'), vers[0])
    ln = {s: [] for s in sides}
    seen = {s: [] for s in sides}
    stale = {s: 0 for s in sides}
    for i in range(a.promo_iters):
        want = vers[(i + 1) % 2]
        for s in (('pg', 'lmdb') if i % 2 == 0 else ('lmdb', 'pg')):
            mdir, seer = sides[s]
            t0 = now()
            ctx.run(['ln', '-sfn', 'versions/' + want, 'production'], cwd=mdir)
            ln[s].append(now() - t0)
            delay, n = first_seen(pj(seer, 'production', 'VERSION'), want)
            seen[s].append(delay)
            stale[s] += n
    ctx.facts['multihost']['stale_opens'] = stale
    ms = lambda xs: [x * 1e3 for x in xs]           # noqa: E731
    for p in (50, 99):
        ctx.record('multihost', '`ln -sfn` on host A, p%d' % p, 'ms',
                   core.pctl(ms(ln['pg']), p), core.pctl(ms(ln['lmdb']), p), 'LMDB',
                   samples=samples(modelfs=ms(ln['pg']), reference=ms(ln['lmdb'])))
    for p, tgt in ((50, None), (99, ('modelfs', '<', 200, 'p99 < 200 ms'))):
        ctx.record('multihost', 'from ln\'s return on host A until a fresh open of '
                   'production/VERSION on host B reads the new version, p%d' % p, 'ms',
                   core.pctl(ms(seen['pg']), p), core.pctl(ms(seen['lmdb']), p),
                   'LMDB, same mount', kind='latency', target=tgt,
                   samples=samples(modelfs=ms(seen['pg']), reference=ms(seen['lmdb'])))
    ctx.say('[multihost] fresh opens that still read the old version: %d on host B, %d on '
            'the LMDB mount (of %d moves each)' % (stale['pg'], stale['lmdb'], a.promo_iters))


def mh_seal(ctx, w, roots):
    '''cp of a large file into a draft + seal on host a (blobs on the store's
    filesystem: linked), on the LMDB mount, and on host t (blobs on a tmpfs:
    copied). The tmpfs holds one blob at a time: each round's version there
    is removed and gc'd (a tmpfs filling up slows down in some VMs).'''
    a = ctx.args
    src = pj(w, 'src')
    os.mkdir(src)
    big = pj(src, 'model.bin')
    random_file(big, a.size_mib * MIB, 81)
    dirs = {h: pj(roots[h], 'mh-seal') for h in ('a', 'lmdb', 't') if h in roots}
    parts = {h: {'copy': [], 'seal': []} for h in dirs}
    for d in dirs.values():
        os.mkdir(d)

    def run(h, r):
        v = pj(dirs[h], 'versions', '1.0.%d' % r)
        t0 = now()
        os.mkdir(v)
        ctx.run(['cp', big, pj(v, 'model.bin')])
        t1 = now()
        seal(ctx, v)
        t2 = now()
        parts[h]['copy'].append(t1 - t0)
        parts[h]['seal'].append(t2 - t1)
        return t2 - t0

    def after(r):
        mutate(big)
        if 't' in dirs:
            os.rmdir(pj(dirs['t'], 'versions', '1.0.%d' % r))
            top = os.path.dirname(roots['t'])
            os.setxattr(top, 'user.modelfs.gc', b'run')
            rep = json.loads(os.getxattr(top, 'user.modelfs.gc'))
            if rep['bytes_freed'] < a.size_mib * MIB:
                raise BenchError('gc on host t freed %d bytes of the tmpfs: %s'
                                 % (rep['bytes_freed'], rep))
    res = alternate(a.rounds, [(h, lambda r: ctx.settle(src), lambda r, h=h: run(h, r))
                               for h in dirs], after=after)
    ctx.facts['multihost']['seal'] = {h: samples(**p) for h, p in parts.items()}
    label = '%s file: cp into a draft + seal' % human_size(a.size_mib)
    rows = [('a', "blobs on the store's filesystem (linked)", 'LMDB')]
    if 't' in dirs:
        rows.append(('t', 'blobs on a tmpfs (copied)', "LMDB, blobs in the store"))
    for h, where, ref in rows:
        ctx.record('multihost', '%s, %s' % (label, where), 's', median(res[h]),
                   median(res['lmdb']), ref,
                   samples=samples(modelfs=res[h], reference=res['lmdb']))
    for h, name in (('a', 'PostgreSQL'), ('lmdb', 'LMDB'), ('t', 'PostgreSQL, tmpfs blobs')):
        if h in dirs:
            ctx.say('[multihost] %s, %s: copy into the draft %s + seal %s (medians)'
                    % (label, name, core.fmt_num(median(parts[h]['copy']), 's'),
                       core.fmt_num(median(parts[h]['seal']), 's')))
