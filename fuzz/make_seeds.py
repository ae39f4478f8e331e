#!/usr/bin/env python3
"""Writes a small seed corpus for fuzz_gguf_reader from the shared assets' GGUF files.

Real files are too big to fuzz well (the models are 0.3-7 MB), so each one
becomes a few small, valid variants that keep its real header structure:
  <name>.mini.gguf   all metadata, every tensor info with one row of its type
                     (the real first bytes of its data): every ggml type seen
  <name>.tiny.gguf   the scalar metadata only, the first three tensors, one row each
Files under 64 KiB (imatrix-calib.gguf) are copied as they are. Independent of
quantlm on purpose (stdlib only), so a reader bug cannot shape its own seeds.

usage: make_seeds.py ASSETS_DIR OUT_DIR
"""
import pathlib
import struct
import sys

# ggml type id -> (values per block, bytes per block), for the types the assets use.
BLOCKS = {0: (1, 4), 1: (1, 2), 2: (32, 18), 3: (32, 20), 6: (32, 22), 7: (32, 24), 8: (32, 34),
          10: (256, 84), 11: (256, 110), 12: (256, 144), 13: (256, 176), 14: (256, 210),
          20: (32, 18), 23: (256, 136), 30: (1, 2), 34: (256, 54), 35: (256, 66)}
SCALAR_SIZE = {0: 1, 1: 1, 2: 2, 3: 2, 4: 4, 5: 4, 6: 4, 7: 1, 10: 8, 11: 8, 12: 8}


class Reader:
    def __init__(self, data):
        self.data, self.pos = data, 0

    def take(self, fmt):
        value = struct.unpack_from('<' + fmt, self.data, self.pos)[0]
        self.pos += struct.calcsize('<' + fmt)
        return value

    def raw(self, n):
        self.pos += n
        return self.data[self.pos - n:self.pos]

    def string(self):
        return self.raw(self.take('Q'))


def skip_value(r, vtype):
    if vtype in SCALAR_SIZE:
        r.raw(SCALAR_SIZE[vtype])
    elif vtype == 8:
        r.string()
    elif vtype == 9:
        etype, count = r.take('I'), r.take('Q')
        for _ in range(count):
            skip_value(r, etype)
    else:
        raise ValueError(f'value type {vtype}')


def parse(data):
    r = Reader(data)
    assert r.take('I') == 0x46554747
    version, n_tensors, n_kv = r.take('I'), r.take('Q'), r.take('Q')
    kvs, alignment = [], 32
    for _ in range(n_kv):
        start = r.pos
        key = r.string()
        vtype = r.take('I')
        value_start = r.pos
        skip_value(r, vtype)
        if key == b'general.alignment':
            alignment = struct.unpack_from('<I', data, value_start)[0]
        kvs.append((vtype, data[start:r.pos]))
    tensors = []
    for _ in range(n_tensors):
        name = r.string()
        ne = [r.take('Q') for _ in range(r.take('I'))]
        tensors.append((name, ne, r.take('I'), r.take('Q')))
    data_start = (r.pos + alignment - 1) // alignment * alignment
    return version, kvs, tensors, alignment, data_start


def build(version, kvs, tensors, alignment):
    """tensors: (name, ne, type, data) in llama.cpp's layout."""
    pad = lambda n: (n + alignment - 1) // alignment * alignment
    out = bytearray(struct.pack('<IIQQ', 0x46554747, version, len(tensors), len(kvs)))
    for _, raw in kvs:
        out += raw
    offset = 0
    for name, ne, ttype, data in tensors:
        out += struct.pack('<Q', len(name)) + name + struct.pack('<I', len(ne))
        out += b''.join(struct.pack('<Q', d) for d in ne) + struct.pack('<IQ', ttype, offset)
        offset = pad(offset + len(data))
    out += bytes(pad(len(out)) - len(out))
    for _, _, _, data in tensors:
        out += data + bytes(pad(len(data)) - len(data))
    return bytes(out)


def one_row(data, data_start, tensor):
    name, ne, ttype, offset = tensor
    elems, nbytes = BLOCKS[ttype]
    row = nbytes * (ne[0] // elems if ne else 1)
    return (name, ne[:1], ttype, data[data_start + offset:data_start + offset + row])


def main():
    assets, out = pathlib.Path(sys.argv[1]), pathlib.Path(sys.argv[2])
    out.mkdir(parents=True, exist_ok=True)
    for path in sorted((assets / 'models').rglob('*.gguf')):
        data = path.read_bytes()
        if len(data) < 65536:
            (out / path.name).write_bytes(data)
            continue
        version, kvs, tensors, alignment, data_start = parse(data)
        rows = [one_row(data, data_start, t) for t in tensors]
        (out / f'{path.stem}.mini.gguf').write_bytes(build(version, kvs, rows, alignment))
        scalars = [kv for kv in kvs if kv[0] != 9]
        (out / f'{path.stem}.tiny.gguf').write_bytes(build(version, scalars, rows[:3], alignment))
    print(f'{len(list(out.iterdir()))} seeds in {out}')


if __name__ == '__main__':
    main()
