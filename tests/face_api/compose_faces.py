#!/usr/bin/env python3
"""Test images for the face pipeline's bad-input cases, made from AT&T's binary PGMs with the
standard library alone:
  compose_faces.py side-by-side A.pgm B.pgm OUT.pgm   two faces in one image (equal heights)
  compose_faces.py shrink K IN.pgm OUT.pgm            every K-th pixel: a face too small
Exits 77 (ctest's skip code) when an input is missing."""
import sys


def read_pgm(path):
    try:
        data = open(path, "rb").read()
    except FileNotFoundError:
        print(f"SKIPPED: {path} not found")
        sys.exit(77)
    fields, pos = [], 0
    while len(fields) < 4:  # magic, width, height, maxval; no comments in AT&T's files
        while data[pos:pos + 1].isspace():
            pos += 1
        start = pos
        while not data[pos:pos + 1].isspace():
            pos += 1
        fields.append(data[start:pos])
    if fields[0] != b"P5" or int(fields[3]) > 255:
        sys.exit(f"{path}: not an 8-bit binary PGM")
    w, h = int(fields[1]), int(fields[2])
    pixels = data[pos + 1:pos + 1 + w * h]
    return w, h, [pixels[r * w:(r + 1) * w] for r in range(h)]


def write_pgm(path, rows):
    with open(path, "wb") as f:
        f.write(b"P5\n%d %d\n255\n" % (len(rows[0]), len(rows)))
        f.write(b"".join(rows))


if __name__ == "__main__":
    if len(sys.argv) == 5 and sys.argv[1] == "side-by-side":
        _, ha, a = read_pgm(sys.argv[2])
        _, hb, b = read_pgm(sys.argv[3])
        if ha != hb:
            sys.exit("side-by-side needs images of equal height")
        write_pgm(sys.argv[4], [ra + rb for ra, rb in zip(a, b)])
    elif len(sys.argv) == 5 and sys.argv[1] == "shrink":
        k = int(sys.argv[2])
        _, _, rows = read_pgm(sys.argv[3])
        write_pgm(sys.argv[4], [r[::k] for r in rows[::k]])
    else:
        sys.exit(__doc__)
