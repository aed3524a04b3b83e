"""MovieLens datasets: a registry, a verified download cache and parsers into one shape.

Taught in notebook 01. `load_ratings` and `load_movies` are all a notebook needs:

    ratings = load_ratings("ml-latest-small")   # user_id, item_id, rating, timestamp
    movies = load_movies("ml-latest-small")     # item_id, title, genres (a list)

Where the files come from, in order: the cache folder (see `data_dir`), an archive the user saved
there by hand, the mirror named by the `MOVIELENS_MIRROR` environment variable (a folder or a
URL holding the same archives), and finally GroupLens itself; a source that fails verification
is skipped in favour of the next one. Every archive is verified before anything is written to
the cache, and the cache folder appears in one atomic rename, so an interrupted or corrupt
download never looks like a good cache. A lock file lets two notebooks fetch at once. The size
and time stamp of every cached file are recorded, so a file changed later is caught on load;
`verify_cache` re-checks every byte.
"""

from __future__ import annotations

import contextlib
import hashlib
import http.client
import io
import json
import os
import shutil
import stat
import tempfile
import time
import urllib.error
import urllib.request
import warnings
import zipfile
import zlib
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath

import pandas as pd
from filelock import FileLock, Timeout

from utils.progress import progress_bar

MIRROR_ENV = "MOVIELENS_MIRROR"
DATA_DIR_ENV = "MF_COURSE_DATA"
GROUPLENS = "https://files.grouplens.org/datasets/movielens/"
VERIFIED_MARKER = ".verified"

# Download limits: a read that waits longer than READ_TIMEOUT_S, a download that lasts longer
# than DOWNLOAD_DEADLINE_S, or one slower than MIN_BYTES_PER_S once RATE_GRACE_S have passed
# is abandoned with a message (the tests shrink them to provoke each case).
READ_TIMEOUT_S = 60.0
DOWNLOAD_DEADLINE_S = 900.0
MIN_BYTES_PER_S = 5_000
RATE_GRACE_S = 30.0

RATING_COLUMNS = ["user_id", "item_id", "rating", "timestamp"]
LARGEST_ID = 2**63 - 1


class DatasetError(RuntimeError):
    """A dataset could not be fetched, verified or parsed; the message says how to fix it."""


@dataclass(frozen=True)
class Dataset:
    """One MovieLens release: where its archive lives and how to check what is inside."""

    name: str
    archive_sha256: str
    archive_bytes: int
    ratings_file: str
    movies_file: str
    rating_scale: tuple[float, float]
    # The total size of the files listed in file_checksums: it bounds downloads and unpacking.
    extracted_bytes: int
    # Per-file checksums let a mirror re-zip the same files (different archive bytes) and
    # still verify. Values are "sha256:<hex>" or "git-blob:<hex>" (git's sha1 of the blob).
    file_checksums: dict[str, str] = field(default_factory=dict)

    @property
    def archive_name(self) -> str:
        """The archive's file name, the same at GroupLens and on a mirror."""
        return f"{self.name}.zip"

    @property
    def byte_limit(self) -> int:
        """No genuine archive, nor the files it unpacks to, is larger than this many bytes."""
        # A little room for the archive's own headers and the official ml-100k's two scripts.
        return self.extracted_bytes + self.extracted_bytes // 20 + (1 << 20)

    @property
    def url(self) -> str:
        """The official GroupLens download address."""
        return GROUPLENS + self.archive_name


# Archive checksums are the official ones (tensorflow/datasets url_checksums); per-file checksums
# were computed on content verified against several independent copies (shared MANIFEST.md).
DATASETS: dict[str, Dataset] = {
    "ml-latest-small": Dataset(
        name="ml-latest-small",
        archive_sha256="696d65a3dfceac7c45750ad32df2c259311949efec81f0f144fdfb91ebc9e436",
        archive_bytes=978_202,
        ratings_file="ratings.csv",
        movies_file="movies.csv",
        rating_scale=(0.5, 5.0),
        extracted_bytes=3_303_135,
        file_checksums={
            "README.txt": "sha256:63d22ac138e80fae37021797ed8e1b9424b5239dc576a137422adf783ae3f404",
            "links.csv": "sha256:97ad18e4e56a09363c65676b6cb3482ce3e2cea2372a24620c1599c843325f31",
            "movies.csv": "sha256:5a5f32dd9bb3797b8e728a1b98958789d2b13f294a69fdfbc5727f8a9611aa07",
            "ratings.csv": "sha256:aa289ca83157595d0df6aea1be6a4ded676ddc4385472e8313a8ed9805352646",
            "tags.csv": "sha256:92a9f8bb7916dceef6151209845788c3643f794dfa79d1feaec7121b5960399d",
        },
    ),
    "ml-100k": Dataset(
        name="ml-100k",
        archive_sha256="50d2a982c66986937beb9ffb3aa76efe955bf3d5c6b761f4e3a7cd717c6a3229",
        archive_bytes=4_924_029,
        ratings_file="u.data",
        movies_file="u.item",
        rating_scale=(1.0, 5.0),
        extracted_bytes=16_099_537,
        file_checksums={
            "README": "sha256:4883b8cf340ed0059971b33f56ad3adc88a40792108ebca3d24aafc4c82e8b52",
            "u.data": "sha256:06416e597f82b7342361e41163890c81036900f418ad91315590814211dca490",
            "u.genre": "sha256:9757e0d3e6b298159a80dd48eaf938114690e911e39af97a76949ef1663610bb",
            "u.info": "sha256:5b0a40b2e47a729ee6203063f6dcf8790c2e63f5a18663e6ee318a72c5f3c27b",
            "u.item": "sha256:553841ebc7de3a0fd0d6b62a204ea30c1e651aacfb2814c7a6584ac52f2c5701",
            "u.occupation": "sha256:cd5fbec9afe345d993a62fc7817df1a4a9079c4feb267b3118763b8fd942137d",
            "u.user": "sha256:f120e114da2e8cf314fd28f99417c94ae9ddf1cb6db8ce0e4b5995d40e90e62c",
            "u1.base": "sha256:ce253ec86c448b44fb3ba9a30d12dcfc2e9210cbde71efada3730c22e9ac212a",
            "u1.test": "sha256:18c6014a4b2c7324f250a63f8904a7b16b2b19f911129e346141507b0cbac950",
            "u2.base": "sha256:6c06f0b5df4b256da1a994f3ac66edc8da4d3f09bc9282df6b14d893366d703e",
            "u2.test": "sha256:4de658d1e04ed9104629509a2e2528fce833ac8e048280183f1df167632038c3",
            "u3.base": "sha256:afdc155c291c6edc41c0407e39d7462eb98d341e064f0b0a12175b80b3c4af5d",
            "u3.test": "sha256:0f548b51c78327de4c156461d3e430b7e5579fe2b5681586a59416e48fd35f6d",
            "u4.base": "sha256:219f0f4d40dfe9c5141d425f53fa91ee23ed275f14e280bbf1b50117afb064ca",
            "u4.test": "sha256:7c02ad0a1e7ab1083c8b9d4b627203a051dd7b5eab46d99fa44de33470de8db9",
            "u5.base": "sha256:a9574e59ce961eec2121627760b6e9b0974ce1637b3fe69ac32cb14a4bfab485",
            "u5.test": "sha256:351cc52e0d15b6c721466276fc24671d40936899e3d01fadeaf312915b8c5634",
            "ua.base": "sha256:67b5bcdb380c29f85d56a012ecd88612ae020f30a6730d117a334ee8203b91f2",
            "ua.test": "sha256:d0497e202417720f57a184ec8c66be2d1afa4ff41bb53787c57b28d6bf79bc42",
            "ub.base": "sha256:237254d253b6ad7de84f919d041055428646254f34ed8f562703c899430cd881",
            "ub.test": "sha256:d54a72d05730d5892062734b2bec73e976f9b713d18c828a18b968d6cce442da",
        },
    ),
    "ml-1m": Dataset(
        name="ml-1m",
        archive_sha256="a6898adb50b9ca05aa231689da44c217cb524e7ebd39d264c56e2832f2c54e20",
        archive_bytes=5_917_549,
        ratings_file="ratings.dat",
        movies_file="movies.dat",
        rating_scale=(1.0, 5.0),
        extracted_bytes=24_905_384,  # ratings.dat alone is 24,594,131 bytes
        file_checksums={
            "README": "sha256:2d5ddce86ccbd247207456165827b4b9ddf27282bca93807d4c763e28414f133",
            "movies.dat": "sha256:0140fc2356357c1a851d0f52e893a1e4d3696df632c4141cea8d5bc3d621f0b9",
            "users.dat": "sha256:1dc3a95300cb19f7c10e027daf29b8cdf1d908dab65b5edfb45950aa389a10a3",
            # Only its git blob id is published in the repositories that hold the file.
            "ratings.dat": "git-blob:77a7c4b150f588c23bb9e1f068aa996c0b413695",
        },
    ),
}


def get_dataset(name: str) -> Dataset:
    """Look a dataset up in the registry, with an error that lists the known names."""
    try:
        return DATASETS[name]
    except KeyError:
        known = ", ".join(sorted(DATASETS))
        raise DatasetError(f"Unknown dataset {name!r}. Choose one of: {known}.") from None


def data_dir(path: str | os.PathLike[str] | None = None) -> Path:
    """The cache folder: the argument, else $MF_COURSE_DATA, else <repo>/data, else ~/.cache."""
    folder, origin = _data_dir_and_origin(path)
    if folder.exists() and not folder.is_dir():
        raise DatasetError(
            f"The data folder {folder} (from {origin}) is a file, not a folder. {_root_fix(origin)}"
        )
    return folder


def _data_dir_and_origin(path: str | os.PathLike[str] | None) -> tuple[Path, str]:
    """The cache folder and, for error messages, which setting chose it."""
    if path is not None:
        return Path(path).expanduser(), "the root argument"
    if os.environ.get(DATA_DIR_ENV):
        return Path(os.environ[DATA_DIR_ENV]).expanduser(), f"${DATA_DIR_ENV}"
    repo = Path(__file__).resolve().parent.parent
    if (repo / "pyproject.toml").is_file() and (repo / "notebooks").is_dir():
        return repo / "data", "the course checkout"
    return Path.home() / ".cache" / "mf-course", "the default user cache"


def _root_fix(origin: str) -> str:
    if origin == f"${DATA_DIR_ENV}":
        return (f"Set {DATA_DIR_ENV} to a folder you can write to (it is created if missing), "
                f"or unset it to use the default.")
    return "Pass a folder you can write to (it is created if missing)."


def fetch(
    name: str,
    root: str | os.PathLike[str] | None = None,
    mirror: str | None = None,
) -> Path:
    """Return the folder of a verified, extracted dataset, downloading it on first use."""
    dataset = get_dataset(name)
    folder, origin = data_dir(root), _data_dir_and_origin(root)[1]
    target = folder / dataset.name
    if (target / VERIFIED_MARKER).is_file():
        return _checked_cache(dataset, target)
    _make_writable(folder, origin)
    with _fetch_lock(folder, dataset):
        if (target / VERIFIED_MARKER).is_file():  # another process fetched it while we waited
            return _checked_cache(dataset, target)
        if target.exists():
            raise DatasetError(
                f"{target} exists but was not written by a verified download. "
                f"Delete that folder and run again to fetch {name} afresh."
            )
        _remove_stale_scratch(folder, dataset)
        with tempfile.TemporaryDirectory(prefix=f".{name}-", dir=folder) as scratch:
            extracted = _obtain_verified(dataset, folder, Path(scratch), mirror)
            os.replace(extracted, target)
    return target


def _make_writable(folder: Path, origin: str) -> None:
    """Create the cache folder; a read-only one is an error that names the setting to change."""
    try:
        folder.mkdir(parents=True, exist_ok=True)
        writable = os.access(folder, os.W_OK | os.X_OK)
    except OSError as error:
        writable, folder = False, Path(error.filename or folder)
    if not writable:
        raise DatasetError(
            f"The data folder {folder} (from {origin}) cannot be written to, so nothing can be "
            f"downloaded into it. {_root_fix(origin)}"
        )


@contextlib.contextmanager
def _fetch_lock(folder: Path, dataset: Dataset) -> Iterator[None]:
    """A lock file per dataset, so that two notebooks fetching at once take turns."""
    lock = FileLock(folder / f".{dataset.name}.lock", timeout=DOWNLOAD_DEADLINE_S + 60)
    try:
        lock.acquire()
    except Timeout:
        raise DatasetError(
            f"Another process has been fetching {dataset.name} into {folder} for over "
            f"{lock.timeout:.0f} s. Wait for it to finish, or stop it and run again."
        ) from None
    try:
        yield
    finally:
        lock.release()


def _remove_stale_scratch(folder: Path, dataset: Dataset) -> None:
    """Delete scratch folders left by a fetch that was killed; we hold the lock, none is live."""
    for stale in folder.glob(f".{dataset.name}-*"):
        if stale.is_dir():
            shutil.rmtree(stale, ignore_errors=True)


def _obtain_verified(dataset: Dataset, root: Path, scratch: Path, mirror: str | None) -> Path:
    """Try each source in turn; return the first verified extraction, with its stamps written."""
    failures: list[str] = []
    for attempt, source in enumerate(_sources(dataset, root, mirror)):
        try:
            archive = _local_archive(source, dataset, scratch)
            extracted = _unpack(dataset, archive, scratch / f"extracted-{attempt}", source)
        except DatasetError as error:
            failures.append(str(error))
            continue
        if failures:
            warnings.warn(f"{' '.join(failures)} Used {source} instead.", stacklevel=3)
        return extracted
    if len(failures) == 1:
        raise DatasetError(failures[0])
    raise DatasetError(f"No source gave a verified {dataset.name}: " + " ".join(failures))


def _sources(dataset: Dataset, root: Path, mirror: str | None) -> Iterator[str]:
    """Where to look, in order: an archive saved by hand, then the mirror or else GroupLens."""
    saved_by_hand = root / dataset.archive_name
    if saved_by_hand.is_file():
        yield str(saved_by_hand)
    mirror = mirror if mirror is not None else os.environ.get(MIRROR_ENV) or None
    if mirror and "://" not in mirror:
        yield str(Path(mirror).expanduser() / dataset.archive_name)
    elif mirror:
        yield mirror.rstrip("/") + "/" + dataset.archive_name
    else:
        yield dataset.url


def _local_archive(source: str, dataset: Dataset, scratch: Path) -> Path:
    """The archive as a local file: a file source as it is, a URL downloaded into scratch."""
    if "://" in source:
        destination = scratch / dataset.archive_name
        _download(source, destination, dataset, scratch.parent)
        return destination
    path = Path(source)
    if not path.is_file():
        raise DatasetError(
            f"The mirror folder {path.parent} (from ${MIRROR_ENV} or the mirror argument) has "
            f"no {dataset.archive_name}. Put the archive there, or unset {MIRROR_ENV} to "
            f"download from GroupLens."
        )
    if path.stat().st_size > dataset.byte_limit:
        raise _too_large(source, dataset)
    return path


def _too_large(source: str, dataset: Dataset) -> DatasetError:
    return DatasetError(
        f"{source} is larger than the {dataset.byte_limit:,} bytes that any genuine "
        f"{dataset.archive_name} and its unpacked files stay under, so it is not the official "
        f"release. Replace it by a fresh copy of {dataset.url}."
    )


def _download(url: str, destination: Path, dataset: Dataset, root: Path) -> None:
    """Stream a URL to a file within the size, time and rate limits; a failure names the fix."""
    try:
        timeout = min(READ_TIMEOUT_S, DOWNLOAD_DEADLINE_S)
        with urllib.request.urlopen(url, timeout=timeout) as response, destination.open("wb") as out:
            _stream(response, out, url, dataset)
    except DatasetError:
        raise
    except (urllib.error.URLError, http.client.HTTPException, OSError, ValueError) as error:
        raise DatasetError(
            f"Could not download {url} ({type(error).__name__}: {error}). Without network "
            f"access, download {dataset.url} on another machine and save it as "
            f"{root / dataset.archive_name}, or set {MIRROR_ENV} to a folder or URL that holds "
            f"{dataset.archive_name}."
        ) from error


def _stream(response: http.client.HTTPResponse, out: io.BufferedWriter, url: str,
            dataset: Dataset) -> None:
    """Copy the body in chunks as they arrive, stopping at the size limit, deadline or min rate."""
    total = int(response.headers.get("Content-Length") or 0) or None
    if total is not None and total > dataset.byte_limit:
        raise _too_large(url, dataset)
    started, received = time.monotonic(), 0
    with progress_bar(total=total, unit="B", unit_scale=True, desc=dataset.name) as bar:
        while chunk := response.read1(1 << 16):
            received += len(chunk)
            if received > dataset.byte_limit:
                raise _too_large(url, dataset)
            out.write(chunk)
            bar.update(len(chunk))
            _check_pace(url, received, time.monotonic() - started, dataset)


def _check_pace(url: str, received: int, seconds: float, dataset: Dataset) -> None:
    """Give up on a download that takes too long or trickles in too slowly."""
    fix = (f"Try again later, set {MIRROR_ENV} to a faster mirror, or download {dataset.url} "
           f"elsewhere and save it in the data folder.")
    if seconds > DOWNLOAD_DEADLINE_S:
        raise DatasetError(
            f"Gave up downloading {url} after {seconds:.1f} s (the limit is "
            f"{DOWNLOAD_DEADLINE_S:g} s) with only {received:,} bytes received. {fix}"
        )
    if seconds > RATE_GRACE_S and received / seconds < MIN_BYTES_PER_S:
        raise DatasetError(
            f"Gave up downloading {url}: it arrives at {received / seconds:,.0f} bytes/s, below "
            f"the minimum of {MIN_BYTES_PER_S:,} bytes/s. {fix}"
        )


def _unpack(dataset: Dataset, archive: Path, destination: Path, source: str) -> Path:
    """Unzip safely and verify; any damage becomes a DatasetError that names the source."""
    official = _sha256(archive) == dataset.archive_sha256
    try:
        with zipfile.ZipFile(archive) as zipped:
            for member in _members_to_extract(zipped, dataset, source, official):
                zipped.extract(member, destination)
    except DatasetError:
        raise
    except (zipfile.BadZipFile, zipfile.LargeZipFile, EOFError, zlib.error, NotImplementedError,
            RuntimeError, ValueError, OSError) as error:
        raise DatasetError(
            f"{source} is not a readable zip archive ({type(error).__name__}: {error}); it is "
            f"probably damaged or an interrupted download. Replace it by a fresh copy of "
            f"{dataset.url}."
        ) from error
    folder = destination / dataset.name
    if not folder.is_dir():
        raise DatasetError(
            f"{source} has no {dataset.name}/ folder at its top level. Download the official "
            f"archive from {dataset.url}."
        )
    how = _verify(dataset, official, folder, source)
    _write_stamps(folder, how)
    return folder


def _members_to_extract(
    zipped: zipfile.ZipFile, dataset: Dataset, source: str, official: bool
) -> list[zipfile.ZipInfo]:
    """Check every member's name and kind; keep only files a checksum covers (all if official)."""
    listed = {f"{dataset.name}/{name}" for name in dataset.file_checksums}
    chosen = []
    for member in zipped.infolist():
        _check_member(member, dataset, source)
        if not member.is_dir() and (official or member.filename in listed):
            chosen.append(member)
    unpacked = sum(member.file_size for member in chosen)
    if unpacked > dataset.byte_limit:
        raise DatasetError(
            f"{source} would unpack to {unpacked:,} bytes, more than the {dataset.byte_limit:,} "
            f"of the genuine {dataset.name}: it is not the official release (perhaps a zip "
            f"bomb). Nothing was unpacked; download {dataset.url} again."
        )
    return chosen


def _check_member(member: zipfile.ZipInfo, dataset: Dataset, source: str) -> None:
    """Reject members that would land outside the folder, links and encrypted members."""
    parts = PurePosixPath(member.filename.replace("\\", "/")).parts
    if not parts or parts[0] == "/" or ".." in parts or ":" in parts[0]:
        problem = "which would be written outside the dataset folder"
    elif stat.S_ISLNK(member.external_attr >> 16):
        problem = "which is a symbolic link"
    elif member.flag_bits & 0x1:
        problem = "which is encrypted"
    else:
        return
    raise DatasetError(
        f"{source} holds the member {member.filename!r}, {problem}. The archive is not a "
        f"genuine MovieLens archive: delete it and download {dataset.url}."
    )


def _verify(dataset: Dataset, official: bool, folder: Path, source: str) -> str:
    """Check the archive's official sha256, else every file's own checksum; say which passed."""
    if official:
        missing = [n for n in dataset.file_checksums if not (folder / n).is_file()]
        if missing:
            raise DatasetError(f"{source} lacks {', '.join(missing)}.")
        return f"archive sha256 {dataset.archive_sha256}"
    for file_name, expected in dataset.file_checksums.items():
        path = folder / file_name
        if not path.is_file():
            raise DatasetError(
                f"{source} does not match the official checksum and is missing "
                f"{dataset.name}/{file_name}. Delete it and download {dataset.url}."
            )
        if _file_checksum(path, expected.split(":", 1)[0]) != expected:
            raise DatasetError(
                f"Checksum mismatch for {dataset.name}/{file_name} in {source}: the archive is "
                f"corrupt or not the official release. Nothing was cached; download "
                f"{dataset.url} again."
            )
    return f"per-file checksums of {len(dataset.file_checksums)} files"


def _write_stamps(folder: Path, how: str) -> None:
    """Record how the folder was verified and each file's size, time stamp and sha256."""
    files = {
        path.relative_to(folder).as_posix(): {**_stamp(path), "sha256": _sha256(path)}
        for path in sorted(folder.rglob("*"))
        if path.is_file()
    }
    marker = {"verified_by": how, "files": files}
    (folder / VERIFIED_MARKER).write_text(json.dumps(marker, indent=1) + "\n")


def _stamp(path: Path) -> dict[str, int]:
    info = path.stat()
    return {"bytes": info.st_size, "mtime_ns": info.st_mtime_ns}


def _checked_cache(dataset: Dataset, target: Path, full: bool = False) -> Path:
    """The cached folder after checking its files against the stamps (`full`: every byte)."""
    try:
        recorded = json.loads((target / VERIFIED_MARKER).read_text())["files"]
    except (ValueError, KeyError, TypeError):
        recorded = None
    if recorded is None:  # a cache written before stamps were recorded: verify it once
        _verify(dataset, False, target, str(target))
        with contextlib.suppress(OSError):  # a read-only cache is then checked in full each time
            _write_stamps(target, "per-file checksums, checked in the cache")
        return target
    for file_name, expected in recorded.items():
        problem = _file_problem(target / file_name, expected, full)
        if problem:
            raise DatasetError(
                f"The cached {dataset.name} in {target} was changed after it was verified: "
                f"{problem}. Delete the folder {target} and run again to fetch a fresh copy."
            )
    if full:
        _verify(dataset, False, target, str(target))
    return target


def _file_problem(path: Path, expected: dict, full: bool) -> str | None:
    """What is wrong with one cached file, or None; its bytes are hashed only when in doubt."""
    if not path.is_file():
        return f"{path.name} is missing"
    stamp = _stamp(path)
    if stamp["bytes"] != expected["bytes"]:
        return f"{path.name} has {stamp['bytes']:,} bytes instead of {expected['bytes']:,}"
    if (full or stamp["mtime_ns"] != expected["mtime_ns"]) and _sha256(path) != expected["sha256"]:
        return f"the content of {path.name} was edited"
    return None


def verify_cache(name: str, root: str | os.PathLike[str] | None = None) -> Path:
    """Re-check every byte of a cached dataset against its recorded and official checksums."""
    dataset = get_dataset(name)
    target = data_dir(root) / dataset.name
    if not (target / VERIFIED_MARKER).is_file():
        raise DatasetError(f"{target} holds no verified {name}; `fetch({name!r})` downloads it.")
    return _checked_cache(dataset, target, full=True)


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        while chunk := handle.read(1 << 20):
            digest.update(chunk)
    return digest.hexdigest()


def _file_checksum(path: Path, kind: str) -> str:
    if kind == "sha256":
        return f"sha256:{_sha256(path)}"
    digest = hashlib.sha1(f"blob {path.stat().st_size}\0".encode())
    digest.update(path.read_bytes())
    return f"git-blob:{digest.hexdigest()}"


def load_ratings(
    name: str, root: str | os.PathLike[str] | None = None, file_name: str | None = None
) -> pd.DataFrame:
    """Ratings as user_id, item_id (int64), rating (float32), timestamp (int64).

    `file_name` reads another ratings file of the same release, e.g. ml-100k's "u1.base".
    """
    dataset = get_dataset(name)
    folder = fetch(name, root)
    file_name = file_name or dataset.ratings_file
    if file_name not in dataset.file_checksums:
        known = ", ".join(sorted(dataset.file_checksums))
        raise DatasetError(f"{name} has no file {file_name!r}. Its files are: {known}.")
    return parse_ratings(folder / file_name, dataset.rating_scale)


def load_movies(name: str, root: str | os.PathLike[str] | None = None) -> pd.DataFrame:
    """Movies as item_id (int64), title (str) and genres (a list of str, maybe empty)."""
    dataset = get_dataset(name)
    folder = fetch(name, root)
    if dataset.name == "ml-100k":
        return parse_100k_movies(folder / "u.item", folder / "u.genre")
    return parse_movies(folder / dataset.movies_file)


def parse_ratings(path: Path, rating_scale: tuple[float, float]) -> pd.DataFrame:
    """Parse any of the three ratings formats (csv with header, tab, `::`) with checked values.

    Ids and timestamps must be whole numbers. A (user, item) pair rated more than once keeps
    only its latest rating (by timestamp, then by line), with a warning.
    """
    path = Path(path)
    raw, first_line = _read_table(path, RATING_COLUMNS)
    ratings = pd.DataFrame(
        {
            "user_id": _whole_numbers(raw["user_id"], path, "user_id", first_line),
            "item_id": _whole_numbers(raw["item_id"], path, "item_id", first_line),
            "rating": _numbers(raw["rating"], path, "rating", first_line),
            "timestamp": _whole_numbers(raw["timestamp"], path, "timestamp", first_line),
        }
    )
    low, high = rating_scale
    outside = ~ratings["rating"].between(low, high)
    if outside.any():
        row = int(outside.to_numpy().argmax())
        raise DatasetError(
            f"{path}, line {row + first_line}: rating {ratings['rating'].iloc[row]} is "
            f"outside the scale {low}..{high} of this dataset."
        )
    ratings["rating"] = ratings["rating"].astype("float32")
    return _latest_rating_per_pair(ratings, path)


def _latest_rating_per_pair(ratings: pd.DataFrame, path: Path) -> pd.DataFrame:
    """Keep one rating per (user, item): the latest by timestamp, then by line; warn if any."""
    pair = ["user_id", "item_id"]
    repeated = ratings.duplicated(pair, keep=False)
    if not repeated.any():
        return ratings
    latest = (ratings.sort_values("timestamp", kind="stable")
              .drop_duplicates(pair, keep="last").sort_index().reset_index(drop=True))
    user, item = ratings.loc[repeated, pair].iloc[0]
    warnings.warn(
        f"{path}: {ratings[repeated][pair].drop_duplicates().shape[0]:,} (user, item) pairs are "
        f"rated more than once (the first: user {user}, item {item}); kept the latest rating of "
        f"each and dropped {len(ratings) - len(latest):,} rows.",
        stacklevel=2,
    )
    return latest


def parse_movies(path: Path) -> pd.DataFrame:
    """Parse ml-latest-small's movies.csv or ml-1m's movies.dat (genres joined by '|')."""
    path = Path(path)
    raw, first_line = _read_table(path, ["item_id", "title", "genres"])
    genres = raw["genres"].fillna("").map(
        lambda text: [] if text in ("", "(no genres listed)") else text.split("|")
    )
    return pd.DataFrame(
        {
            "item_id": _whole_numbers(raw["item_id"], path, "item_id", first_line),
            "title": raw["title"].astype(str),
            "genres": genres,
        }
    )


def parse_100k_movies(item_path: Path, genre_path: Path) -> pd.DataFrame:
    """Parse ml-100k's latin-1 u.item, turning its 19 one-hot genre flags into name lists."""
    item_path = Path(item_path)
    genre_names = _100k_genre_names(Path(genre_path))
    columns = ["item_id", "title", "release_date", "video_release_date", "url", *genre_names]
    raw = _read_headerless(item_path, "|", columns)
    flags = raw[genre_names].apply(lambda column: _numbers(column, item_path, column.name, 1))
    genre_array = flags.to_numpy(dtype=bool)
    genres = [
        [genre for genre, flag in zip(genre_names, row, strict=True) if flag and genre != "unknown"]
        for row in genre_array
    ]
    return pd.DataFrame(
        {
            "item_id": _whole_numbers(raw["item_id"], item_path, "item_id", 1),
            "title": raw["title"].astype(str),
            "genres": genres,
        }
    )


def _100k_genre_names(path: Path) -> list[str]:
    """The genre names of u.genre ("name|index" lines), in flag order."""
    text = _read_text(path, "latin-1")
    names = [line.split("|")[0] for line in text.splitlines() if line.strip()]
    if not all(names):
        raise DatasetError(f"{path} has a line without a genre name. {_fix(path, 'latin-1')}")
    return names


def _fix(path: Path, encoding: str) -> str:
    """How to repair a bad file: refetch it if it is cached, else rewrite it."""
    return (f"If it is part of the download cache, delete the folder {path.parent} and run "
            f"again to fetch a fresh copy; if you made it, save it as {encoding} text in the "
            f"MovieLens layout.")


def _read_text(path: Path, encoding: str) -> str:
    """A whole file as text; missing, empty, UTF-16 or wrongly encoded files are errors."""
    if not path.is_file():
        raise DatasetError(f"{path} does not exist. {_fix(path, encoding)}")
    content = path.read_bytes()
    problem = None
    if not content.strip():
        problem = "is empty"
    elif b"\x00" in content[:4096]:
        problem = "holds NUL bytes (is it UTF-16 or binary?)"
    else:
        try:
            return content.decode(encoding)
        except UnicodeDecodeError as error:
            problem = f"is not {encoding} text (byte {error.start}: {error.reason})"
    raise DatasetError(f"{path} {problem}. {_fix(path, encoding)}")


def _read_table(path: Path, columns: list[str]) -> tuple[pd.DataFrame, int]:
    """Read a MovieLens table as strings; return it and the file line number of its first row."""
    if path.suffix != ".csv":
        return _read_headerless(path, "::" if path.suffix == ".dat" else "\t", columns), 1
    text = _read_text(path, "utf-8")
    try:
        raw = pd.read_csv(io.StringIO(text), dtype=str, keep_default_na=False, na_values=[""])
    except pd.errors.ParserError as error:
        raise DatasetError(f"{path}: malformed table ({error}). {_fix(path, 'utf-8')}") from error
    expected = {
        "user_id": "userId",
        "item_id": "movieId",
        "rating": "rating",
        "timestamp": "timestamp",
        "title": "title",
        "genres": "genres",
    }
    missing = [expected[c] for c in columns if expected[c] not in raw.columns]
    if missing:
        raise DatasetError(
            f"{path}, line 1: the header lacks the column(s) {', '.join(missing)} "
            f"(found {', '.join(raw.columns)})."
        )
    if raw.empty:
        raise DatasetError(f"{path} has a header but no rows. {_fix(path, 'utf-8')}")
    return raw.rename(columns={v: k for k, v in expected.items()})[columns], 2


def _read_headerless(path: Path, separator: str, columns: list[str]) -> pd.DataFrame:
    """Read a latin-1 table without header and check its number of fields."""
    text = _read_text(path, "latin-1")
    if separator == "::":
        # Replacing the two-character separator by a tab lets pandas' fast C parser read it.
        text, separator = text.replace("::", "\t"), "\t"
    try:
        raw = pd.read_csv(io.StringIO(text), sep=separator, header=None, dtype=str)
    except pd.errors.ParserError as error:
        raise DatasetError(f"{path}: malformed table ({error}). {_fix(path, 'latin-1')}") from error
    if raw.shape[1] != len(columns):
        raise DatasetError(
            f"{path}, line 1: expected {len(columns)} fields "
            f"({', '.join(columns)}), found {raw.shape[1]}."
        )
    raw.columns = columns
    return raw


def _numbers(values: pd.Series, path: Path, column: str, first_line: int) -> pd.Series:
    """Convert a column to numbers; the first non-numeric field is reported by line."""
    numbers = pd.to_numeric(values, errors="coerce")
    bad = numbers.isna()
    if bad.any():
        raise _bad_field(values, bad, path, column, first_line, "a number")
    return numbers


def _whole_numbers(values: pd.Series, path: Path, column: str, first_line: int) -> pd.Series:
    """Convert an id or timestamp column to int64; fractions, signs and huge values are errors."""
    numbers = pd.to_numeric(values, errors="coerce")
    if numbers.dtype == "int64" and (numbers >= 0).all():
        return numbers
    bad = ~values.fillna("").str.fullmatch(r"\s*\d+\s*")
    if not bad.any():
        bad = values.map(lambda text: int(text) > LARGEST_ID)
    raise _bad_field(values, bad, path, column, first_line, f"a whole number from 0 to {LARGEST_ID}")


def _bad_field(values: pd.Series, bad: pd.Series, path: Path, column: str, first_line: int,
               wanted: str) -> DatasetError:
    """A DatasetError naming the file, line and value of the first bad field."""
    row = int(bad.to_numpy().argmax())
    value = values.iloc[row]
    problem = "is missing" if pd.isna(value) else f"is {value!r}, not {wanted}"
    return DatasetError(f"{path}, line {row + first_line}: {column} {problem}.")
