"""Draws the Fauxscope icon (assets/icons/fauxscope.png): a magnifying glass over a half-real,
half-pixelated square. Run: python3 tools/make_icon.py"""
from PIL import Image, ImageDraw

S = 256
img = Image.new("RGBA", (S, S), (0, 0, 0, 0))
d = ImageDraw.Draw(img)
d.rounded_rectangle([8, 8, S - 8, S - 8], radius=40, fill=(30, 38, 56, 255))
# Left: a smooth gradient (a photo); right: coarse blocks (a generator's grid).
for x in range(40, 128):
    for y in range(40, 216):
        t = (y - 40) / 176
        img.putpixel((x, y), (int(70 + 120 * t), int(130 + 60 * t), int(200 - 80 * t), 255))
for bx in range(128, 216, 22):
    for by in range(40, 216, 22):
        v = ((bx * 7 + by * 13) % 5) / 4
        d.rectangle([bx, by, bx + 21, by + 21], fill=(int(230 - 80 * v), int(90 + 100 * v), 60, 255))
# Magnifier.
d.ellipse([70, 60, 190, 180], outline=(250, 250, 250, 255), width=14)
d.line([176, 168, 226, 218], fill=(250, 250, 250, 255), width=22)
img.save("assets/icons/fauxscope.png")
