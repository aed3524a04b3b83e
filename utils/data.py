"""MovieLens datasets: a registry, a verified download cache and parsers into one shape.

Taught in notebook 01. `load_ratings` and `load_movies` are all a notebook needs:

    ratings = load_ratings("ml-latest-small")   # user_id, item_id, rating, timestamp
    movies = load_movies("ml-latest-small")     # item_id, title, genres (a list)

Where the files come from, in order: the cache folder (see `data_dir`), an archive the user saved
there by hand, the mirror named by the `MOVIELENS_MIRROR` environment variable (a folder or a
URL holding the same archives), and finally GroupLens itself. Every archive is verified before
anything is written to the cache, and the cache folder appears in one atomic rename, so an
interrupted or corrupt download never looks like a good cache.
"""

from __future__ import annotations

import hashlib
import io
import os
import shutil
import tempfile
import urllib.error
import urllib.request
import zipfile
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath

import pandas as pd

from utils.progress import progress_bar

MIRROR_ENV = "MOVIELENS_MIRROR"
DATA_DIR_ENV = "MF_COURSE_DATA"
GROUPLENS = "https://files.grouplens.org/datasets/movielens/"
VERIFIED_MARKER = ".verified"

RATING_COLUMNS = ["user_id", "item_id", "rating", "timestamp"]


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
    # Per-file checksums let a mirror re-zip the same files (different archive bytes) and
    # still verify. Values are "sha256:<hex>" or "git-blob:<hex>" (git's sha1 of the blob).
    file_checksums: dict[str, str] = field(default_factory=dict)

    @property
    def archive_name(self) -> str:
        """The archive's file name, the same at GroupLens and on a mirror."""
        return f"{self.name}.zip"

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
    if path is not None:
        return Path(path)
    if os.environ.get(DATA_DIR_ENV):
        return Path(os.environ[DATA_DIR_ENV])
    repo = Path(__file__).resolve().parent.parent
    if (repo / "pyproject.toml").is_file() and (repo / "notebooks").is_dir():
        return repo / "data"
    return Path.home() / ".cache" / "mf-course"


def fetch(
    name: str,
    root: str | os.PathLike[str] | None = None,
    mirror: str | None = None,
) -> Path:
    """Return the folder of a verified, extracted dataset, downloading it on first use."""
    dataset = get_dataset(name)
    root = data_dir(root)
    target = root / dataset.name
    if (target / VERIFIED_MARKER).is_file():
        return target
    if target.exists():
        raise DatasetError(
            f"{target} exists but was not written by a verified download. "
            f"Delete that folder and run again to fetch {name} afresh."
        )
    root.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix=f".{name}-", dir=root) as scratch:
        archive = _obtain_archive(dataset, root, Path(scratch), mirror)
        extracted = _extract(archive, Path(scratch) / "extracted", dataset)
        how = _verify(dataset, archive, extracted)
        (extracted / VERIFIED_MARKER).write_text(how + "\n")
        os.replace(extracted, target)
    return target


def _mirror_setting(mirror: str | None) -> str | None:
    return mirror if mirror is not None else os.environ.get(MIRROR_ENV) or None


def _obtain_archive(dataset: Dataset, root: Path, scratch: Path, mirror: str | None) -> Path:
    """Copy or download the archive into the scratch folder; nothing lands in the cache yet."""
    destination = scratch / dataset.archive_name
    saved_by_hand = root / dataset.archive_name
    mirror = _mirror_setting(mirror)
    if saved_by_hand.is_file():
        shutil.copyfile(saved_by_hand, destination)
    elif mirror and "://" not in mirror:
        source = Path(mirror).expanduser() / dataset.archive_name
        if not source.is_file():
            raise DatasetError(
                f"The mirror folder {mirror} (from ${MIRROR_ENV} or the mirror argument) has no "
                f"{dataset.archive_name}. Put the archive there, or unset {MIRROR_ENV} to "
                f"download from GroupLens."
            )
        shutil.copyfile(source, destination)
    else:
        url = mirror.rstrip("/") + "/" + dataset.archive_name if mirror else dataset.url
        _download(url, destination, dataset, root)
    return destination


def _download(url: str, destination: Path, dataset: Dataset, root: Path) -> None:
    """Stream a URL to a file with a progress bar; a failure names the manual fix."""
    try:
        with urllib.request.urlopen(url, timeout=60) as response, destination.open("wb") as out:
            total = int(response.headers.get("Content-Length") or 0) or None
            with progress_bar(total=total, unit="B", unit_scale=True, desc=dataset.name) as bar:
                while chunk := response.read(1 << 16):
                    out.write(chunk)
                    bar.update(len(chunk))
    except (urllib.error.URLError, TimeoutError, OSError) as error:
        raise DatasetError(
            f"Could not download {url} ({error}). Without network access, download "
            f"{dataset.url} on another machine and save it as {root / dataset.archive_name}, "
            f"or set {MIRROR_ENV} to a folder or URL that holds {dataset.archive_name}."
        ) from error


def _extract(archive: Path, destination: Path, dataset: Dataset) -> Path:
    """Unzip safely into `destination` and return the dataset folder inside it."""
    try:
        with zipfile.ZipFile(archive) as zipped:
            members = zipped.infolist()
            for member in members:
                path = PurePosixPath(member.filename)
                if path.is_absolute() or ".." in path.parts or ":" in path.parts[0]:
                    raise DatasetError(
                        f"{dataset.archive_name} holds the member {member.filename!r}, which "
                        f"would be written outside the dataset folder. The archive is not a "
                        f"genuine MovieLens archive: delete it and download {dataset.url}."
                    )
            bad_member = zipped.testzip()
            if bad_member is not None:
                raise zipfile.BadZipFile(f"bad CRC for {bad_member}")
            zipped.extractall(destination)
    except (zipfile.BadZipFile, EOFError) as error:
        raise DatasetError(
            f"{dataset.archive_name} is not a readable zip archive ({error}); the download was "
            f"probably interrupted. Delete it and run again, or download {dataset.url} by hand."
        ) from error
    folder = destination / dataset.name
    if not folder.is_dir():
        raise DatasetError(
            f"{dataset.archive_name} has no {dataset.name}/ folder at its top level. Download "
            f"the official archive from {dataset.url}."
        )
    return folder


def _verify(dataset: Dataset, archive: Path, extracted: Path) -> str:
    """Check the archive's official sha256, else every file's own checksum; say which passed."""
    if _sha256(archive) == dataset.archive_sha256:
        missing = [n for n in dataset.file_checksums if not (extracted / n).is_file()]
        if missing:
            raise DatasetError(f"{dataset.archive_name} lacks {', '.join(missing)}.")
        return f"archive sha256 {dataset.archive_sha256}"
    for file_name, expected in dataset.file_checksums.items():
        path = extracted / file_name
        if not path.is_file():
            raise DatasetError(
                f"{dataset.archive_name} does not match the official checksum and is missing "
                f"{dataset.name}/{file_name}. Delete it and download {dataset.url}."
            )
        if _file_checksum(path, expected.split(":", 1)[0]) != expected:
            raise DatasetError(
                f"Checksum mismatch for {dataset.name}/{file_name} in {dataset.archive_name}: "
                f"the archive is corrupt or not the official release. Nothing was cached; "
                f"download {dataset.url} again."
            )
    return f"per-file checksums of {len(dataset.file_checksums)} files"


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
    path = fetch(name, root) / (file_name or dataset.ratings_file)
    return parse_ratings(path, dataset.rating_scale)


def load_movies(name: str, root: str | os.PathLike[str] | None = None) -> pd.DataFrame:
    """Movies as item_id (int64), title (str) and genres (a list of str, maybe empty)."""
    dataset = get_dataset(name)
    folder = fetch(name, root)
    if dataset.name == "ml-100k":
        return parse_100k_movies(folder / "u.item", folder / "u.genre")
    return parse_movies(folder / dataset.movies_file)


def parse_ratings(path: Path, rating_scale: tuple[float, float]) -> pd.DataFrame:
    """Parse any of the three ratings formats (csv with header, tab, `::`) with checked values."""
    path = Path(path)
    raw, first_line = _read_table(path, RATING_COLUMNS)
    ratings = pd.DataFrame(
        {
            column: _numbers(raw[column], path, column, first_line)
            for column in RATING_COLUMNS
        }
    )
    low, high = rating_scale
    outside = ~ratings["rating"].between(low, high)
    if outside.any():
        row = int(outside.to_numpy().argmax())
        raise DatasetError(
            f"{path.name}, line {row + first_line}: rating {ratings['rating'].iloc[row]} is "
            f"outside the scale {low}..{high} of this dataset."
        )
    for column in ("user_id", "item_id", "timestamp"):
        ratings[column] = ratings[column].astype("int64")
    ratings["rating"] = ratings["rating"].astype("float32")
    return ratings


def parse_movies(path: Path) -> pd.DataFrame:
    """Parse ml-latest-small's movies.csv or ml-1m's movies.dat (genres joined by '|')."""
    path = Path(path)
    raw, first_line = _read_table(path, ["item_id", "title", "genres"])
    genres = raw["genres"].fillna("").map(
        lambda text: [] if text in ("", "(no genres listed)") else text.split("|")
    )
    return pd.DataFrame(
        {
            "item_id": _numbers(raw["item_id"], path, "item_id", first_line).astype("int64"),
            "title": raw["title"].astype(str),
            "genres": genres,
        }
    )


def parse_100k_movies(item_path: Path, genre_path: Path) -> pd.DataFrame:
    """Parse ml-100k's latin-1 u.item, turning its 19 one-hot genre flags into name lists."""
    genre_names = [
        line.split("|")[0]
        for line in Path(genre_path).read_text(encoding="latin-1").splitlines()
        if line.strip()
    ]
    columns = ["item_id", "title", "release_date", "video_release_date", "url", *genre_names]
    raw = pd.read_csv(
        item_path, sep="|", header=None, names=columns, encoding="latin-1", dtype=str
    )
    flags = raw[genre_names].apply(
        lambda column: _numbers(column, Path(item_path), column.name, 1)
    )
    genre_array = flags.to_numpy(dtype=bool)
    genres = [
        [genre for genre, flag in zip(genre_names, row, strict=True) if flag and genre != "unknown"]
        for row in genre_array
    ]
    return pd.DataFrame(
        {
            "item_id": _numbers(raw["item_id"], Path(item_path), "item_id", 1).astype("int64"),
            "title": raw["title"].astype(str),
            "genres": genres,
        }
    )


def _read_table(path: Path, columns: list[str]) -> tuple[pd.DataFrame, int]:
    """Read a MovieLens table as strings; return it and the file line number of its first row."""
    if not path.is_file():
        raise DatasetError(f"{path} does not exist.")
    try:
        if path.suffix == ".csv":
            raw = pd.read_csv(path, dtype=str, keep_default_na=False, na_values=[""])
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
                    f"{path.name}, line 1: the header lacks the column(s) {', '.join(missing)} "
                    f"(found {', '.join(raw.columns)})."
                )
            return raw.rename(columns={v: k for k, v in expected.items()})[columns], 2
        # The '::' files are latin-1; replacing the two-character separator by a tab lets
        # pandas' fast C parser read them.
        text = path.read_text(encoding="latin-1")
        separator = "\t" if path.suffix != ".dat" else "::"
        if separator == "::":
            text = text.replace("::", "\t")
        raw = pd.read_csv(io.StringIO(text), sep="\t", header=None, dtype=str)
    except pd.errors.ParserError as error:
        raise DatasetError(f"{path.name}: malformed table ({error}).") from error
    if raw.shape[1] != len(columns):
        raise DatasetError(
            f"{path.name}, line 1: expected {len(columns)} fields "
            f"({', '.join(columns)}), found {raw.shape[1]}."
        )
    raw.columns = columns
    return raw, 1


def _numbers(values: pd.Series, path: Path, column: str, first_line: int) -> pd.Series:
    """Convert a column to numbers; the first non-numeric field is reported by line."""
    numbers = pd.to_numeric(values, errors="coerce")
    bad = numbers.isna()
    if bad.any():
        row = int(bad.to_numpy().argmax())
        value = values.iloc[row]
        problem = "is missing" if pd.isna(value) else f"is {value!r}, not a number"
        raise DatasetError(f"{path.name}, line {row + first_line}: {column} {problem}.")
    return numbers
