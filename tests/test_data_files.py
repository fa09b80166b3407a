"""The committed MNIST files are the ones data/README.md lists, byte for byte."""

from __future__ import annotations

import gzip
import hashlib
import re

import pytest
from conftest import MNIST_DIR, ROOT

LISTED = dict(
    (name, digest)
    for digest, name in re.findall(r"^\s+([0-9a-f]{64})  (\S+)$", (ROOT / "data" / "README.md").read_text(), flags=re.M)
)


def test_readme_lists_eight_checksums():
    assert len(LISTED) == 8


@pytest.mark.parametrize("name", sorted(n for n in LISTED if n.endswith(".gz")))
def test_committed_file_matches_both_checksums(name):
    packed = (MNIST_DIR / name).read_bytes()
    assert hashlib.sha256(packed).hexdigest() == LISTED[name]
    assert hashlib.sha256(gzip.decompress(packed)).hexdigest() == LISTED[name.removesuffix(".gz")]


def test_mnist_loads_with_the_known_counts(mnist):
    assert mnist.train.images.shape == (60000, 784) and mnist.test.images.shape == (10000, 784)
    assert [int((mnist.train.labels == d).sum()) for d in range(10)] == [5923, 6742, 5958, 6131, 5842, 5421, 5918, 6265, 5851, 5949]
    assert abs(mnist.train.images.mean() / 255 - 0.1307) < 1e-4
