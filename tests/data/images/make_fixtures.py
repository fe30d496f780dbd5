#!/usr/bin/python3
"""Regenerates the tiny image fixtures of tests/test_image_io.cpp (run with Debian's python3 + PIL).
The committed files are the reference; rerun only to add fixtures."""
import os
from PIL import Image

here = os.path.dirname(os.path.abspath(__file__))

def save(img, name, **kw):
    img.save(os.path.join(here, name), **kw)

grey = Image.new("L", (4, 3))
grey.putdata([0, 10, 20, 30, 40, 50, 60, 70, 80, 90, 200, 255])
save(grey, "grey_4x3.png")

rgb = Image.new("RGB", (2, 2))
rgb.putdata([(255, 0, 0), (0, 255, 0), (0, 0, 255), (255, 255, 255)])
save(rgb, "rgb_2x2.png")
save(rgb.convert("RGBA"), "rgba_2x2.png")
save(rgb.convert("P"), "palette_2x2.png")
Image.new("I;16", (3, 2), 65535).save(os.path.join(here, "grey16_3x2.png"))

flat = Image.new("L", (16, 8), 128)
save(flat, "grey_16x8.jpg", quality=95)
save(Image.new("RGB", (16, 16), (200, 100, 50)), "rgb_16x16.jpg", quality=95)
save(Image.new("RGB", (16, 16), (200, 100, 50)), "rgb_16x16_progressive.jpg", quality=95, progressive=True)

save(rgb, "rgb_2x2.gif")
save(rgb, "rgb_2x2.bmp")
