"""Data sets by name: MNIST's relatives, their files, checksums, class names and where they are kept.

    DATASETS                          name -> NamedDataset (mnist, fashion, kmnist, emnist-letters, ...)
    is_named(text)                    -> whether ``--data text`` means a registered data set (a path wins)
    dataset_folder(name)              -> where its files are kept (the per-user data folder; MNIST's as today)
    missing(name, folder=None)        -> the files of it not there yet
    ensure_named(name, ...)           -> its folder, fetching only the files it lacks, verified
    load_named(name, folder=None)     -> Dataset, labels from 0 and ``classes`` filled

Each data set is fetched from its publisher's address, then the known mirrors, into
``<user data folder>/purenet/<folder>`` (platformdirs: ``~/.local/share/purenet/fashion``
on Linux), with the download's promises (``purenet.data.download``): only missing files
are written, each atomically and only once verified; nothing already there is touched.

The files are checked as the publishers allow: Fashion-MNIST by the MD5s its README
publishes for the ``.gz`` files, or (a mirror may recompress them) by the SHA-256 of their
decompressed content recorded here; KMNIST publishes no checksum, so its files are checked
by their decompressed size and IDX header only; EMNIST is one ``gzip.zip`` from NIST checked
by its published MD5, whose ``.gz`` IDX members are read straight from the archive, one
chunk at a time, never unpacked to disk or whole into memory. EMNIST's images are stored
transposed relative to MNIST's (the loader turns them back) and the letters' labels run
1-26 (the loader shifts them to 0-25).

>>> letters = load_named("emnist-letters")                   # doctest: +SKIP
>>> letters.classes[:3], letters.train.labels.min()          # doctest: +SKIP
(('a', 'b', 'c'), 0)
"""

from __future__ import annotations

import os
import string
import zipfile
from pathlib import Path
from typing import Iterable

import attrs
import numpy as np

from purenet.base.words import counted
from purenet.data.download import MIRRORS, TIMEOUT, DownloadCallback, RemoteFile, download_files, ensure_mnist, has_mnist
from purenet.data.download import mnist_remote_files as _mnist_files
from purenet.data.idx import IDX_NAMES, load_idx_folder, missing_idx_files, read_idx_gzip_stream
from purenet.data.splits import DataError, Dataset, Split, make_dataset, open_regular

_IDX = tuple(names[0] for names in IDX_NAMES.values())  # train images, train labels, test images, test labels


@attrs.frozen
class NamedDataset:
    """One data set purenet knows by name: its files and how to check them, its classes, its facts.

    ``layout`` is ``"idx"`` (MNIST's four files, read as any IDX folder) or ``"emnist"`` (one zip of
    ``.gz`` IDX members named ``member + "-train-images-idx3-ubyte.gz"``, ...). ``transposed``: the
    images are stored column by column; ``label_offset``: the files' first label (1 for EMNIST letters).
    """

    name: str
    title: str
    classes: tuple[str, ...] | None
    train_size: int
    test_size: int
    files: tuple[RemoteFile, ...]
    mirrors: tuple[str, ...]
    licence: str
    source: str
    citation: str
    folder: str
    checksums: str
    layout: str = "idx"
    member: str = ""
    transposed: bool = False
    label_offset: int = 0

    @property
    def class_count(self) -> int:
        return len(self.classes) if self.classes is not None else 10

    @property
    def download_size(self) -> int | None:
        """Bytes to fetch, as published (None where a size is unknown)."""
        sizes = [remote.size for remote in self.files]
        return None if None in sizes else sum(sizes)  # type: ignore[arg-type]


def _idx_files(sizes: tuple[int, int] = (60_000, 10_000), md5: Iterable[str | None] = (None,) * 4,
               sha256: Iterable[str | None] = (None,) * 4,
               published: Iterable[int | None] = (None,) * 4) -> tuple[RemoteFile, ...]:
    """The four ``.gz`` IDX files of a data set of ``sizes`` (train, test) 28x28 images."""
    shapes = ((sizes[0], 28, 28), (sizes[0],), (sizes[1], 28, 28), (sizes[1],))
    return tuple(
        RemoteFile(f"{name}.gz", md5=md5_, sha256=sha, content_size=4 + 4 * len(shape) + int(np.prod(shape)), idx_shape=shape,
                   size=size)
        for name, shape, md5_, sha, size in zip(_IDX, shapes, md5, sha256, published)
    )


_EMNIST_ZIP = RemoteFile("gzip.zip", md5="58c8d27c78d21e728a6bc7b3cc06412e", size=561_753_746)


def _emnist(name: str, title: str, classes: tuple[str, ...] | None, train: int, test: int, label_offset: int = 0) -> NamedDataset:
    """One split of EMNIST: all are members of NIST's one gzip.zip, stored transposed."""
    return NamedDataset(
        name=name, title=title, classes=classes, train_size=train, test_size=test,
        files=(_EMNIST_ZIP,),
        mirrors=("https://biometrics.nist.gov/cs_links/EMNIST/", "https://www.itl.nist.gov/iaui/vip/cs_links/EMNIST/"),
        licence="not stated by NIST (derived from NIST Special Database 19)",
        source="https://www.nist.gov/itl/products-and-services/emnist-dataset",
        citation="Cohen, Afshar, Tapson, van Schaik: EMNIST: an extension of MNIST to handwritten letters (2017), "
                 "arXiv:1702.05373",
        folder="emnist", layout="emnist", member=f"gzip/{name}", transposed=True, label_offset=label_offset,
        checksums="the published MD5 of gzip.zip (one archive for every EMNIST split)",
    )


DATASETS: dict[str, NamedDataset] = {
    dataset.name: dataset
    for dataset in (
        NamedDataset(
            name="mnist", title="MNIST", classes=None, train_size=60_000, test_size=10_000,
            files=_mnist_files(), mirrors=MIRRORS,
            licence="CC BY-SA 3.0",
            source="http://yann.lecun.com/exdb/mnist/",
            citation="LeCun, Bottou, Bengio, Haffner: Gradient-based learning applied to document recognition (1998)",
            folder="mnist",
            checksums="the SHA-256 of each file's decompressed content, recorded here",
        ),
        NamedDataset(
            name="fashion", title="Fashion-MNIST",
            classes=("T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot"),
            train_size=60_000, test_size=10_000,
            files=_idx_files(
                md5=("8d4fb7e6c68d591d4c3dfef9ec88bf0d", "25c81989df183df01b3e8a0aad5dffbe",
                     "bef4ecab320f06d8554ea6380940ec79", "bb300cfdad3c16e7a12a480ee83cd310"),
                sha256=("c59f468a2f672dc815687fe0f83887768d799fd8a3f3276145d20f83aa44d888",
                        "bad3541b69d912435c50bb6ba87bec294ff4f6a2e1246121d8633921760443d9",
                        "5b4141f0afbad91edebe8549f8fcffe087ea10ca49f1dbef5c9a5cd8815ce37b",
                        "0402a96d92fd2663957122ceb108a494c5af83dab82d92729df917d7dec38c34"),
                published=(26_421_880, 29_515, 4_422_102, 5_148),
            ),
            mirrors=("http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/",
                     "https://storage.googleapis.com/tensorflow/tf-keras-datasets/"),
            licence="MIT",
            source="https://github.com/zalandoresearch/fashion-mnist",
            citation="Xiao, Rasul, Vollgraf: Fashion-MNIST: a novel image dataset for benchmarking machine learning "
                     "algorithms (2017), arXiv:1708.07747",
            folder="fashion",
            checksums="the published MD5 of each .gz, or the SHA-256 of its decompressed content (recorded here)",
        ),
        NamedDataset(
            name="kmnist", title="Kuzushiji-MNIST",
            classes=("o", "ki", "su", "tsu", "na", "ha", "ma", "ya", "re", "wo"),
            train_size=60_000, test_size=10_000,
            files=_idx_files(),
            mirrors=("http://codh.rois.ac.jp/kmnist/dataset/kmnist/", "https://storage.googleapis.com/kuzushiji-mnist/"),
            licence="CC BY-SA 4.0",
            source="https://github.com/rois-codh/kmnist",
            citation="Clanuwat, Bober-Irizar, Kitamoto, Lamb, Yamamoto, Ha: Deep learning for classical Japanese "
                     "literature (2018), arXiv:1812.01718",
            folder="kmnist",
            checksums="none published: each file's decompressed size and IDX header",
        ),
        _emnist("emnist-letters", "EMNIST Letters", tuple(string.ascii_lowercase), 124_800, 20_800, label_offset=1),
        _emnist("emnist-balanced", "EMNIST Balanced", tuple(string.digits + string.ascii_uppercase + "abdefghnqrt"),
                112_800, 18_800),
        _emnist("emnist-digits", "EMNIST Digits", None, 240_000, 40_000),
    )
}
"""Every data set purenet knows by name (``--data NAME``), MNIST first."""


def is_named(text: str | os.PathLike) -> bool:
    """Whether ``--data text`` means a registered data set: its name, and no file or folder of that
    name in the current folder (a path that exists always wins)."""
    text = os.fspath(text)
    return text in DATASETS and not os.path.lexists(text)


def get(name: str) -> NamedDataset:
    """The registered data set ``name``; ``DataError`` naming the known ones otherwise."""
    try:
        return DATASETS[name]
    except KeyError:
        raise DataError(f"{name}: no data set of that name (known: {', '.join(DATASETS)})") from None


def datasets_home() -> Path:
    """The per-user folder the named data sets are kept in (``purenet`` in platformdirs' user data folder)."""
    from platformdirs import user_data_path

    return user_data_path("purenet", appauthor=False)


def dataset_folder(name: str) -> Path:
    """Where the files of ``name`` are kept: MNIST where purenet has always looked for it
    (``purenet.data.default_data_dir``), the others in the per-user data folder."""
    if get(name).name == "mnist":
        from purenet.data import default_data_dir

        return default_data_dir()
    return datasets_home() / get(name).folder


def missing(name: str, folder: str | os.PathLike | None = None) -> list[RemoteFile]:
    """The files of ``name`` that its folder lacks (an IDX file counts under any naming purenet reads, raw or .gz)."""
    dataset = get(name)
    where = Path(folder) if folder is not None else dataset_folder(name)
    if not os.path.isdir(where):
        return list(dataset.files)
    if dataset.layout == "idx":
        lacking = set(missing_idx_files(where))
        return [remote for remote in dataset.files if remote.name.removesuffix(".gz") in lacking]
    return [remote for remote in dataset.files if not (where / remote.name).is_file()]


def ensure_named(name: str, folder: str | os.PathLike | None = None, *, mirrors: Iterable[str] | None = None,
                 progress: DownloadCallback | None = None, timeout: float = TIMEOUT) -> Path:
    """The folder of ``name``, after fetching the files it lacks from ``mirrors`` (default: the
    publisher's address, then the known mirrors), each verified; files already there are kept
    untouched. Raises ``DownloadError`` (a ``DataError``) in one line when a file cannot be had."""
    dataset = get(name)
    where = Path(folder) if folder is not None else dataset_folder(name)
    urls = tuple(mirrors) if mirrors is not None else dataset.mirrors
    if dataset.name == "mnist":
        return ensure_mnist(where, progress, mirrors=urls) if not has_mnist(where) else where
    return download_files(where, dataset.files, mirrors=urls, missing=lambda _: missing(name, where), progress=progress,
                          timeout=timeout, label=dataset.title)


def load_named(name: str, folder: str | os.PathLike | None = None) -> Dataset:
    """Read the data set ``name`` from its folder (fetched beforehand: ``ensure_named``), its
    labels from 0 and its class names in ``Dataset.classes``; ``DataError`` when files are missing."""
    dataset = get(name)
    where = Path(folder) if folder is not None else dataset_folder(name)
    lacking = missing(name, where)
    if lacking:
        raise DataError(f"{where}: no {', '.join(remote.name for remote in lacking)} of {dataset.title} "
                        f"(purenet fetches it on first use of --data {name}, or with purenet download --data {name})")
    if dataset.layout == "idx":
        loaded = load_idx_folder(where)
    else:
        loaded = _load_emnist(dataset, where / dataset.files[0].name)
    return attrs.evolve(loaded, classes=dataset.classes)


def _load_emnist(dataset: NamedDataset, path: Path) -> Dataset:
    """The training and test splits of one EMNIST split, read from the zip member by member."""
    try:
        with open_regular(path) as raw, zipfile.ZipFile(raw) as archive:
            train = _zip_split(dataset, archive, path, "train")
            test = _zip_split(dataset, archive, path, "test")
    except (zipfile.BadZipFile, zipfile.LargeZipFile, NotImplementedError, EOFError) as error:
        raise DataError(f"{path}: not a zip archive purenet can read ({error})") from None
    except OSError as error:
        raise DataError(f"{path}: cannot read, truncated or corrupt ({error.strerror or error})") from None
    return make_dataset(train, test, path)


def _zip_split(dataset: NamedDataset, archive: zipfile.ZipFile, path: Path, part: str) -> Split:
    images = _zip_member(archive, path, f"{dataset.member}-{part}-images-idx3-ubyte.gz", ndim=3, transposed=dataset.transposed)
    labels = _zip_member(archive, path, f"{dataset.member}-{part}-labels-idx1-ubyte.gz", ndim=1)
    if len(images) != len(labels):
        raise DataError(f"{path}: {dataset.member} {part}: {counted(len(images), 'image')} but {counted(len(labels), 'label')}")
    if dataset.label_offset:
        low = int(labels.min()) if len(labels) else dataset.label_offset
        if low < dataset.label_offset:
            raise DataError(f"{path}: {dataset.member} {part} labels start at {low}, not {dataset.label_offset}")
        labels = labels - np.uint8(dataset.label_offset)
    return Split(images=images.reshape(len(images), -1), labels=labels, image_shape=images.shape[1:])


def _zip_member(archive: zipfile.ZipFile, path: Path, member: str, ndim: int, transposed: bool = False) -> np.ndarray:
    try:
        info = archive.getinfo(member)
    except KeyError:
        raise DataError(f"{path}: no member {member} (is it NIST's EMNIST gzip.zip?)") from None
    with archive.open(info) as stream:
        return read_idx_gzip_stream(f"{path}:{member}", stream, info.file_size, ndim=ndim, transposed=transposed)


def data_setting(text: str | os.PathLike) -> str:
    """What ``--data text`` is in a run's settings: the data set's name when ``text`` names one
    (``is_named``: no path of that name exists), else the absolute path."""
    return os.fspath(text) if is_named(text) else os.path.abspath(text)


def data_location(setting: str | None) -> Path:
    """The file or folder a run's ``data`` setting reads: MNIST's default folder for None, a
    named data set's folder for its name, else the path itself."""
    if setting is None:
        from purenet.data import default_data_dir

        return default_data_dir()
    return dataset_folder(setting) if setting in DATASETS else Path(setting)


def facts(name: str) -> dict:
    """What ``purenet datasets`` shows of ``name``, as plain JSON types: its classes, sizes,
    licence, source, files with their checksums, folder, and whether every file is there."""
    dataset = get(name)
    folder = dataset_folder(name)
    lacking = {remote.name for remote in missing(name, folder)}
    return {
        "name": dataset.name, "title": dataset.title,
        "classes": list(dataset.classes) if dataset.classes is not None else [str(k) for k in range(10)],
        "train": dataset.train_size, "test": dataset.test_size, "image_shape": [28, 28],
        "licence": dataset.licence, "source": dataset.source, "citation": dataset.citation,
        "mirrors": list(dataset.mirrors), "checksums": dataset.checksums,
        "files": [{"name": remote.name, "size": remote.size, "md5": remote.md5, "content_sha256": remote.sha256,
                   "present": remote.name not in lacking} for remote in dataset.files],
        "download_bytes": dataset.download_size,
        "folder": str(folder), "present": not lacking,
    }
