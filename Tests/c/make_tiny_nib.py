#!/usr/bin/env python3
"""Writes Tests/c/tiny.nib, the model of the C API test and the samples' smoke test.

    x[1,4] -> FullyConnected(W[3,4], b[3], output_min=-0.5, output_max=4.0) -> h[1,3] -> Relu -> y[1,3]

so y[j] = max(0, min(4, max(-0.5, b[j] + sum_i W[j][i] * x[i]))), which Tests/c/c_api_test.c recomputes in C.
The bytes follow Sources/NibbleFormat/Writer.swift exactly (docs/FORMAT.md): little-endian, a 64-byte header,
32-byte section entries, sections and constants on 64-byte boundaries, CRC-32 (IEEE, zlib.crc32) per section
and over the section table. Every value is exactly representable in float32, so the file is reproducible.

Usage: make_tiny_nib.py [OUT.nib]   (default: tiny.nib next to this script)
"""
import os
import struct
import sys
import zlib

MAGIC = b"NIBL"
FORMAT_VERSION = 1
HEADER_SIZE = 64
SECTION_ENTRY_SIZE = 32
ALIGNMENT = 64

SECTION_GRAPH, SECTION_WEIGHTS, SECTION_METADATA = 1, 2, 3
DTYPE_FLOAT32 = 1
ROLE_INTERMEDIATE, ROLE_INPUT, ROLE_CONSTANT = 0, 1, 2
OP_FULLY_CONNECTED, OP_RELU = 2, 7
PRECISION_FLOAT32 = 1
ATTR_OUTPUT_MIN, ATTR_OUTPUT_MAX = 10, 11
ABSENT = 0xFFFFFFFF

# Weights and bias; the C test has the same numbers.
W = [
    [0.5, -0.25, 1.0, 0.125],
    [-1.0, 0.75, -0.5, 0.25],
    [2.0, 1.5, 0.25, -0.75],
]
B = [0.25, -0.125, 0.5]
OUTPUT_MIN, OUTPUT_MAX = -0.5, 4.0


def align_up(n, a=ALIGNMENT):
    return (n + a - 1) // a * a


class ByteWriter:
    def __init__(self):
        self.b = bytearray()

    def u8(self, v): self.b += struct.pack("<B", v)
    def u16(self, v): self.b += struct.pack("<H", v)
    def u32(self, v): self.b += struct.pack("<I", v)
    def u64(self, v): self.b += struct.pack("<Q", v)
    def i64(self, v): self.b += struct.pack("<q", v)
    def f32(self, v): self.b += struct.pack("<f", v)

    def string(self, s, length_bytes):
        data = s.encode("utf-8")
        (self.u16 if length_bytes == 2 else self.u32)(len(data))
        self.b += data

    def pad(self, alignment):
        while len(self.b) % alignment:
            self.b.append(0)


def floats(values):
    return b"".join(struct.pack("<f", v) for v in values)


def build():
    # name, dtype, shape, role, constant bytes
    tensors = [
        ["x", DTYPE_FLOAT32, [1, 4], ROLE_INPUT, None],
        ["fc.weight", DTYPE_FLOAT32, [3, 4], ROLE_CONSTANT, floats([v for row in W for v in row])],
        ["fc.bias", DTYPE_FLOAT32, [3], ROLE_CONSTANT, floats(B)],
        ["h", DTYPE_FLOAT32, [1, 3], ROLE_INTERMEDIATE, None],
        ["y", DTYPE_FLOAT32, [1, 3], ROLE_INTERMEDIATE, None],
    ]
    # name, op, precision, inputs, outputs, attributes [(key, kind, values)]
    nodes = [
        ("fc", OP_FULLY_CONNECTED, PRECISION_FLOAT32, [0, 1, 2], [3],
         [(ATTR_OUTPUT_MIN, 1, [OUTPUT_MIN]), (ATTR_OUTPUT_MAX, 1, [OUTPUT_MAX])]),
        ("relu", OP_RELU, PRECISION_FLOAT32, [3], [4], []),
    ]
    inputs, outputs = [0], [4]
    metadata = [("producer", "Tests/c/make_tiny_nib.py"), ("description", "x[1,4] -> FullyConnected -> Relu -> y[1,3]")]

    # Weights section: each constant on a 64-byte boundary, in tensor order (Writer.serialize).
    weights = ByteWriter()
    offsets = {}
    for i, (_, _, _, role, data) in enumerate(tensors):
        if role == ROLE_CONSTANT:
            weights.pad(ALIGNMENT)
            offsets[i] = (len(weights.b), len(data))
            weights.b += data

    g = ByteWriter()
    g.u32(len(tensors)); g.u32(len(nodes)); g.u32(len(inputs)); g.u32(len(outputs))
    for i, (name, dtype, shape, role, _) in enumerate(tensors):
        g.string(name, 2)
        g.u8(dtype); g.u8(len(shape)); g.u8(role); g.u8(0)
        for d in shape:
            g.i64(d)
        off, size = offsets.get(i, (0, 0))
        g.u64(off); g.u64(size)
    for name, op, precision, ins, outs, attrs in nodes:
        g.u16(op); g.u8(precision); g.u8(0)
        g.string(name, 2)
        g.u16(len(ins)); g.u16(len(outs))
        for t in ins:
            g.u32(ABSENT if t < 0 else t)
        for t in outs:
            g.u32(t)
        g.u16(len(attrs))
        for key, kind, values in attrs:
            g.u16(key); g.u16(kind); g.u32(len(values))
            for v in values:
                (g.f32 if kind == 1 else g.i64)(v)
    for t in inputs:
        g.u32(t)
    for t in outputs:
        g.u32(t)

    m = ByteWriter()
    m.u32(len(metadata))
    for k, v in metadata:
        m.string(k, 2)
        m.string(v, 4)

    sections = [(SECTION_GRAPH, bytes(g.b)), (SECTION_WEIGHTS, bytes(weights.b)), (SECTION_METADATA, bytes(m.b))]
    table_end = HEADER_SIZE + len(sections) * SECTION_ENTRY_SIZE
    cursor = align_up(table_end)
    section_offsets = []
    for _, body in sections:
        section_offsets.append(cursor)
        cursor = align_up(cursor + len(body))
    file_size = section_offsets[-1] + len(sections[-1][1])

    table = ByteWriter()
    for (kind, body), off in zip(sections, section_offsets):
        table.u32(kind); table.u32(0); table.u64(off); table.u64(len(body))
        table.u32(zlib.crc32(body) & 0xFFFFFFFF); table.u32(0)

    out = ByteWriter()
    out.b += MAGIC
    out.u32(FORMAT_VERSION); out.u32(HEADER_SIZE); out.u32(len(sections)); out.u64(file_size)
    out.u32(zlib.crc32(bytes(table.b)) & 0xFFFFFFFF); out.u32(0)
    out.pad(HEADER_SIZE)
    out.b += table.b
    for (_, body), off in zip(sections, section_offsets):
        while len(out.b) < off:
            out.b.append(0)
        out.b += body
    assert len(out.b) == file_size
    return bytes(out.b)


def main():
    path = sys.argv[1] if len(sys.argv) > 1 else os.path.join(os.path.dirname(os.path.abspath(__file__)), "tiny.nib")
    data = build()
    with open(path, "wb") as f:
        f.write(data)
    print(f"wrote {path} ({len(data)} bytes)")


if __name__ == "__main__":
    main()
