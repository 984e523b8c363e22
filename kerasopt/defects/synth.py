"""Synthetic air-filter images with exact binary defect masks.

The paper's air-filter images are proprietary, so kerasopt renders look-alikes:

- **Filter media**: a stochastic fibre process. Many thin curved fibres
  (random start, orientation drawn around a main direction with von Mises
  concentration ``anisotropy``, smoothly bending), drawn anti-aliased in a few
  translucent layers so that overlaps look denser; ``fibre_density`` scales
  the number of fibres, ``fibre_thickness`` their width.
- **Imaging**: pleat shading (a tilted sinusoid), uneven illumination (a
  linear gradient and vignetting), a slight colour tint and sensor noise
  (Gaussian read noise plus signal-dependent shot noise).
- **Defects** (each with an exact mask): ``hole`` (dark pinhole with a molten
  rim), ``tear`` (thin elongated curved slit), ``spot`` (dark contamination,
  hard edge), ``stain`` (brownish, soft edge; the mask is where its opacity
  exceeds 0.5), ``thin`` (region of lower fibre density; the mask is where the
  density drops by more than half the maximum drop), ``pleat`` (a crease: a
  dark fold line with a highlight beside it). One to three defects cover about
  0.1-2 % of a defective image; a ``clean_fraction`` of images is defect-free.

Every image draws from ``numpy.random.default_rng([seed, index])``: the same
seed gives byte-identical files. `generate` writes ``images/<stem>.png``
(uint8 RGB), ``masks/<stem>.png`` (uint8, 0 or 255) and, LAST, ``manifest.json``
(its existence means "data set complete"). Every file is written to a
temporary name and renamed, so concurrent generators of the same data set are
safe.

CLI: ``python -m kerasopt.defects.synth --out DIR --n N --size S --seed K [--grid PNG]``.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

import cv2
import numpy as np

from kerasopt.defects.splits import split_stems

DEFECT_TYPES = ("hole", "tear", "spot", "stain", "thin", "pleat")
MANIFEST = "manifest.json"
FORMAT = "kerasopt-synthetic-air-filter-v1"
_LAYERS = 4  # translucent fibre layers
_POINTS = 10  # polyline points per fibre
_SUBPIXEL = 4  # cv2 drawing shift=2


def generate(out_dir: str | os.PathLike, n: int = 400, size: int = 128, seed: int = 0,
             clean_fraction: float = 0.25, fibre_density: float = 1.0, fibre_thickness: float = 1.0,
             anisotropy: float = 1.0, val_fraction: float = 0.15, test_fraction: float = 0.15) -> dict:
    """Render a synthetic air-filter data set into ``out_dir``.

    Args:
        out_dir: folder to create; gets ``images/``, ``masks/`` and ``manifest.json``.
        n: int >= 1, number of images.
        size: int >= 32, image height and width in pixels.
        seed: int >= 0; identical arguments give identical files.
        clean_fraction: float in [0, 1], share of defect-free images.
        fibre_density: float > 0, multiplies the number of fibres (1 = default media).
        fibre_thickness: float > 0, multiplies the fibre width.
        anisotropy: float >= 0, von Mises concentration of fibre orientations
            (0 = isotropic, 4 = strongly aligned).
        val_fraction, test_fraction: shares of the validation and test splits
            (stratified: defective images land in every split when there are >= 3).

    Returns:
        The manifest dict (also written to ``out_dir/manifest.json``).
    """
    _validate(n, size, seed, clean_fraction, fibre_density, fibre_thickness, anisotropy)
    out = Path(out_dir)
    (out / "images").mkdir(parents=True, exist_ok=True)
    (out / "masks").mkdir(parents=True, exist_ok=True)
    clean = set(np.random.default_rng(seed).permutation(n)[: int(round(clean_fraction * n))].tolist())
    records = {}
    for index in range(n):
        stem = f"filter_{index:05d}"
        rng = np.random.default_rng([seed, index])
        image, mask, defects = render_sample(rng, size, defective=index not in clean, fibre_density=fibre_density,
                                             fibre_thickness=fibre_thickness, anisotropy=anisotropy)
        _write_png(out / "images" / f"{stem}.png", cv2.cvtColor(image, cv2.COLOR_RGB2BGR))
        _write_png(out / "masks" / f"{stem}.png", mask)
        records[stem] = {"defects": defects, "mask_fraction": float(np.count_nonzero(mask)) / mask.size}
    stems_defective = [s for s, r in records.items() if r["mask_fraction"] > 0]
    stems_clean = [s for s, r in records.items() if r["mask_fraction"] == 0]
    manifest = {
        "format": FORMAT, "n": n, "size": size, "seed": seed, "clean_fraction": clean_fraction,
        "fibre_density": fibre_density, "fibre_thickness": fibre_thickness, "anisotropy": anisotropy,
        "splits": split_stems(stems_defective, stems_clean, seed, val_fraction, test_fraction),
        "images": records,
    }
    from kerasopt.records import write_json_atomic  # no TensorFlow import

    write_json_atomic(out / MANIFEST, manifest)
    return manifest


def _validate(n, size, seed, clean_fraction, fibre_density, fibre_thickness, anisotropy):
    checks = [(int(n) == n and n >= 1, f"n must be a positive integer. Received: n={n}"),
              (int(size) == size and size >= 32, f"size must be an integer >= 32. Received: size={size}"),
              (int(seed) == seed and seed >= 0, f"seed must be a non-negative integer. Received: seed={seed}"),
              (0 <= clean_fraction <= 1, f"clean_fraction must be in [0, 1]. Received: {clean_fraction}"),
              (fibre_density > 0, f"fibre_density must be positive. Received: {fibre_density}"),
              (fibre_thickness > 0, f"fibre_thickness must be positive. Received: {fibre_thickness}"),
              (anisotropy >= 0, f"anisotropy must be non-negative. Received: {anisotropy}")]
    for ok, message in checks:
        if not ok:
            raise ValueError(message)


def _write_png(path: Path, array: np.ndarray) -> None:
    """Encode ``array`` as PNG and move it into place atomically."""
    ok, encoded = cv2.imencode(".png", array)
    if not ok:
        raise OSError(f"cannot encode {path}")
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    with os.fdopen(fd, "wb") as handle:
        handle.write(encoded.tobytes())
    os.replace(tmp, path)


def render_sample(rng: np.random.Generator, size: int, defective: bool = True, fibre_density: float = 1.0,
                  fibre_thickness: float = 1.0, anisotropy: float = 1.0):
    """Render one image and its mask.

    Returns:
        ``(image, mask, defects)``: uint8 (size, size, 3) RGB; uint8 (size, size)
        with 0 (background) or 255 (defect); list of defect type names.
    """
    main_angle = rng.uniform(0, np.pi)
    density_scale = np.ones((size, size), np.float32)  # thin spots lower it
    mask = np.zeros((size, size), np.uint8)
    plans = _plan_defects(rng, size) if defective else []
    for kind, params in plans:
        if kind == "thin":
            drop, region_mask = _thin_region(size, **params)
            density_scale *= 1 - drop
            mask |= region_mask
    fibres = _fibre_image(rng, size, main_angle, fibre_density, fibre_thickness, anisotropy, density_scale)
    gap, fibre = rng.uniform(0.22, 0.34), rng.uniform(0.82, 0.95)
    gray = gap + (fibre - gap) * fibres
    gray = cv2.GaussianBlur(gray, (0, 0), 0.5)
    gray *= _pleat_shading(rng, size, main_angle)
    colour = np.stack([gray * t for t in (1.0, rng.uniform(0.95, 0.99), rng.uniform(0.86, 0.94))], axis=-1)
    for kind, params in plans:
        if kind != "thin":
            mask |= _DRAW[kind](colour, size, **params)
    colour *= _illumination(rng, size)[..., None]
    colour = _sensor_noise(rng, colour)
    image = np.clip(colour * 255 + 0.5, 0, 255).astype(np.uint8)
    return image, np.where(mask > 0, 255, 0).astype(np.uint8), [kind for kind, _ in plans]


def _fibre_image(rng, size, main_angle, density, thickness, anisotropy, density_scale):
    """Fibre coverage in [0, 1]: float32 (size, size); translucent layers stacked."""
    count = int(round(130 * density * (size / 128) ** 2))
    coverage = np.zeros((size, size), np.float32)
    for _ in range(_LAYERS):
        layer = np.zeros((size, size), np.uint8)
        for width in (1, 2):
            lines = _fibre_polylines(rng, size, count // 2, main_angle, anisotropy)
            px = max(1, int(round(width * thickness * size / 256)))
            cv2.polylines(layer, lines, False, 255, px, cv2.LINE_AA, shift=2)
        opacity = rng.uniform(0.45, 0.75)
        layer_f = layer.astype(np.float32) / 255 * opacity * density_scale
        coverage = 1 - (1 - coverage) * (1 - layer_f)
    return coverage


def _fibre_polylines(rng, size, count, main_angle, anisotropy):
    """``count`` smooth curved fibres as int32 (points, 2) arrays in 1/4-pixel units."""
    start = rng.uniform(-0.2 * size, 1.2 * size, (count, 1, 2))
    angle = main_angle + rng.vonmises(0, anisotropy, (count, 1)) if anisotropy > 0 else \
        rng.uniform(0, np.pi, (count, 1))
    bend = rng.normal(0, 0.8, (count, 1)) * np.linspace(-0.5, 0.5, _POINTS)[None]
    wiggle = 0.15 * np.sin(np.linspace(0, rng.uniform(2, 6), _POINTS)[None] + rng.uniform(0, 6.3, (count, 1)))
    theta = angle + bend + wiggle
    step = rng.uniform(0.3, 0.9, (count, 1)) * size / (_POINTS - 1)
    offsets = np.cumsum(np.stack([np.cos(theta), np.sin(theta)], -1) * step[..., None], axis=1)
    points = np.round((start + offsets) * _SUBPIXEL).astype(np.int32)
    return list(points)


def _pleat_shading(rng, size, main_angle):
    """Multiplicative pleat shading: float32 (size, size), about 1 +- 0.15."""
    yy, xx = np.mgrid[0:size, 0:size].astype(np.float32) / size
    tilt = main_angle + rng.normal(0, 0.2)
    along = xx * np.cos(tilt) + yy * np.sin(tilt)
    period = rng.uniform(0.25, 0.6)
    return 1 + rng.uniform(0.05, 0.15) * np.sin(2 * np.pi * along / period + rng.uniform(0, 2 * np.pi))


def _illumination(rng, size):
    """Uneven illumination: float32 (size, size), a tilted plane times vignetting."""
    yy, xx = (np.mgrid[0:size, 0:size].astype(np.float32) / size) - 0.5
    gx, gy = rng.uniform(-0.25, 0.25, 2)
    cx, cy = rng.uniform(-0.3, 0.3, 2)
    vignette = 1 - rng.uniform(0.1, 0.35) * ((xx - cx) ** 2 + (yy - cy) ** 2) * 2
    return (1 + gx * xx + gy * yy) * vignette


def _sensor_noise(rng, colour):
    read = rng.uniform(0.006, 0.02)
    shot = np.sqrt(np.clip(colour, 0, None) * rng.uniform(0.0005, 0.002))
    return colour + rng.standard_normal(colour.shape).astype(np.float32) * (read + shot)


def _plan_defects(rng, size):
    """One to three defects sharing a total area of 0.1-2 % of the image."""
    count = int(rng.integers(1, 4))
    total = np.exp(rng.uniform(np.log(0.0015), np.log(0.012))) * size * size
    kinds = rng.choice(DEFECT_TYPES, count)
    shares = rng.dirichlet(np.full(count, 2.0)) * total
    plans = []
    for kind, area in zip(kinds, shares):
        area = max(area, 0.001 * size * size / count)
        centre = rng.uniform(0.12 * size, 0.88 * size, 2)
        plans.append((str(kind), _PLAN[kind](rng, size, area, centre)))
    return plans


def _plan_blob(rng, size, area, centre):
    radius = np.sqrt(area / np.pi)
    return {"polygon": _blob_polygon(rng, centre, radius), "rng": rng}


def _plan_tear(rng, size, area, centre):
    width = max(2.0, size / 64 * rng.uniform(1, 1.6))
    length = min(area / width, 0.6 * size)
    angle = rng.uniform(0, np.pi)
    t = np.linspace(-0.5, 0.5, 8)[:, None]
    direction = np.array([np.cos(angle), np.sin(angle)])
    normal = np.array([-direction[1], direction[0]])
    path = centre + t * length * direction + normal * rng.normal(0, 0.08 * length) * (t ** 2 - 0.25)
    return {"path": path, "width": width}


def _plan_thin(rng, size, area, centre):
    stretch = rng.uniform(1, 1.5)
    radii = np.sqrt(area / np.pi) * np.array([stretch, 1 / stretch])
    return {"centre": centre, "radii": radii, "angle": rng.uniform(0, 180), "drop": rng.uniform(0.7, 0.9)}


def _plan_pleat(rng, size, area, centre):
    width = max(2.0, size / 50)
    length = min(area / width, 0.7 * size)
    angle = rng.uniform(0, np.pi)
    direction = np.array([np.cos(angle), np.sin(angle)])
    return {"start": centre - direction * length / 2, "end": centre + direction * length / 2, "width": width}


def _blob_polygon(rng, centre, radius, points=40):
    """An irregular closed outline: int32 (points, 2) in 1/4-pixel units."""
    theta = np.linspace(0, 2 * np.pi, points, endpoint=False)
    wobble = sum(rng.uniform(0, 0.18) * np.sin(k * theta + rng.uniform(0, 2 * np.pi)) for k in (2, 3, 5))
    stretch = rng.uniform(0.75, 1.25)
    xy = np.stack([stretch * np.cos(theta), np.sin(theta) / stretch], -1) * (radius * (1 + wobble))[:, None]
    return np.round((centre + xy) * _SUBPIXEL).astype(np.int32)


def _fill(size, polygon):
    mask = np.zeros((size, size), np.uint8)
    cv2.fillPoly(mask, [polygon], 255, cv2.LINE_8, shift=2)
    return mask


def _thin_region(size, centre, radii, angle, drop):
    """(density drop float32 in [0, drop], its mask uint8 0/255 where drop > drop/2)."""
    region = np.zeros((size, size), np.uint8)
    cv2.ellipse(region, tuple(np.round(centre * _SUBPIXEL).astype(int)),
                tuple(np.round(radii * _SUBPIXEL).astype(int)), angle, 0, 360, 255, -1, cv2.LINE_8, shift=2)
    soft = cv2.GaussianBlur(region.astype(np.float32) / 255, (0, 0), max(1.0, radii.min() * 0.3))
    return drop * soft, np.where(soft > 0.5, 255, 0).astype(np.uint8)


def _draw_hole(colour, size, polygon, rng):
    mask = _fill(size, polygon)
    rim = cv2.dilate(mask, np.ones((3, 3), np.uint8), iterations=2) & ~mask
    colour[rim > 0] = colour[rim > 0] * 0.6 + 0.4 * np.array([0.95, 0.93, 0.85], np.float32)
    colour[mask > 0] = rng.uniform(0.02, 0.08)
    return mask


def _draw_spot(colour, size, polygon, rng):
    mask = _fill(size, polygon)
    dark = np.array([0.12, 0.11, 0.10], np.float32) * rng.uniform(0.6, 1.4)
    colour[mask > 0] = colour[mask > 0] * 0.25 + 0.75 * dark
    return mask


def _draw_stain(colour, size, polygon, rng):
    hard = _fill(size, polygon).astype(np.float32) / 255
    alpha = cv2.GaussianBlur(hard, (0, 0), max(0.8, size / 200))
    tint = np.array([0.55, 0.40, 0.22], np.float32) * rng.uniform(0.7, 1.0)
    strength = rng.uniform(0.75, 0.9)
    colour[:] = colour * (1 - strength * alpha[..., None]) + strength * alpha[..., None] * tint * colour * 1.2
    return np.where(alpha > 0.5, 255, 0).astype(np.uint8)


def _line_thickness(width: float) -> int:
    """cv2 thickness whose drawn line is about ``width`` px wide (cv2 adds about one pixel)."""
    return max(1, int(round(width)) - 1)


def _draw_tear(colour, size, path, width):
    mask = np.zeros((size, size), np.uint8)
    points = np.round(path * _SUBPIXEL).astype(np.int32)
    cv2.polylines(mask, [points], False, 255, _line_thickness(width), cv2.LINE_8, shift=2)
    colour[mask > 0] *= 0.15
    return mask


def _draw_pleat(colour, size, start, end, width):
    """A crease: a dark fold line with a highlight on one side; mask = the fold line."""
    mask = np.zeros((size, size), np.uint8)
    line = lambda m, a, b, w, v: cv2.line(m, tuple(np.round(a * _SUBPIXEL).astype(int)),
                                           tuple(np.round(b * _SUBPIXEL).astype(int)), v, w, cv2.LINE_8, shift=2)
    line(mask, start, end, _line_thickness(width), 255)
    direction = (end - start) / (np.linalg.norm(end - start) + 1e-9)
    normal = np.array([-direction[1], direction[0]]) * (width + 1)
    highlight = np.zeros_like(mask)
    line(highlight, start + normal, end + normal, _line_thickness(width), 255)
    highlight &= ~mask
    colour[highlight > 0] = np.minimum(colour[highlight > 0] * 1.35, 1.0)
    colour[mask > 0] *= 0.35
    return mask


_PLAN = {"hole": _plan_blob, "spot": _plan_blob, "stain": _plan_blob, "tear": _plan_tear, "thin": _plan_thin,
         "pleat": _plan_pleat}
_DRAW = {"hole": _draw_hole, "spot": _draw_spot, "stain": _draw_stain, "tear": _draw_tear, "pleat": _draw_pleat}


def save_sample_grid(data_dir: str | os.PathLike, path: str | os.PathLike, count: int = 8, columns: int = 4) -> Path:
    """Save a PNG grid of the first ``count`` defective images with red mask outlines."""
    from matplotlib.figure import Figure  # no pyplot: no backend chosen, no global state

    data_dir = Path(data_dir)
    stems = sorted(p.stem for p in (data_dir / "masks").glob("*.png"))
    defective = [s for s in stems if cv2.imread(str(data_dir / "masks" / f"{s}.png"), cv2.IMREAD_GRAYSCALE).any()]
    chosen = defective[:count]
    rows = max(1, -(-len(chosen) // columns))
    figure = Figure(figsize=(3 * columns, 3 * rows))
    axes = figure.subplots(rows, columns, squeeze=False)
    for ax in axes.ravel():
        ax.axis("off")
    for ax, stem in zip(axes.ravel(), chosen):
        image = cv2.cvtColor(cv2.imread(str(data_dir / "images" / f"{stem}.png")), cv2.COLOR_BGR2RGB)
        mask = cv2.imread(str(data_dir / "masks" / f"{stem}.png"), cv2.IMREAD_GRAYSCALE)
        contours, _ = cv2.findContours(mask, cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_NONE)
        ax.imshow(cv2.drawContours(image.copy(), contours, -1, (255, 0, 0), 1))
        ax.set_title(stem, fontsize=8)
    figure.tight_layout()
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(path, dpi=100)
    return path


def main(argv=None) -> int:
    from kerasopt.cli import ArgumentParser, non_negative_float, positive_float, positive_int, seed_type

    parser = ArgumentParser(prog="python -m kerasopt.defects.synth", description=__doc__.split("\n")[0])
    parser.add_argument("--out", required=True, help="output folder (gets images/, masks/, manifest.json)")
    parser.add_argument("--n", type=positive_int, default=400, help="number of images (default 400)")
    parser.add_argument("--size", type=positive_int, default=128, help="image size in pixels (default 128)")
    parser.add_argument("--seed", type=seed_type, default=0)
    parser.add_argument("--clean-fraction", type=non_negative_float, default=0.25, help="share of defect-free images")
    parser.add_argument("--fibre-density", type=positive_float, default=1.0)
    parser.add_argument("--fibre-thickness", type=positive_float, default=1.0)
    parser.add_argument("--anisotropy", type=non_negative_float, default=1.0, help="0 isotropic .. 4 strongly aligned")
    parser.add_argument("--grid", help="also save a sample grid PNG here")
    args = parser.parse_args(argv)
    manifest = generate(args.out, args.n, args.size, args.seed, args.clean_fraction, args.fibre_density,
                        args.fibre_thickness, args.anisotropy)
    counts = {name: len(stems) for name, stems in manifest["splits"].items()}
    print(f"wrote {args.n} images ({args.size} px) to {args.out}; splits {counts}")
    if args.grid:
        print(f"sample grid: {save_sample_grid(args.out, args.grid)}")
    return 0


if __name__ == "__main__":
    from kerasopt.cli import run_cli

    raise SystemExit(run_cli(main))
