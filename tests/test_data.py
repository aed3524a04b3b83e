"""utils.data: registry, verified fetching (folder mirror, real HTTP, hand-saved archive), bad
archives that must never become a cache, and the parsers of all three formats."""

from __future__ import annotations

import functools
import http.server
import shutil
import subprocess
import threading
import urllib.error
import zipfile
from collections.abc import Iterator
from pathlib import Path

import pandas as pd
import pytest

from utils import data
from utils.data import DatasetError, fetch, load_movies, load_ratings, parse_movies, parse_ratings

ML1M_PARTIAL = "ml-1m-partial"


def _leftovers(root: Path) -> list[str]:
    """Everything in a cache folder except verified datasets: must be empty after a failure."""
    return sorted(p.name for p in root.iterdir()) if root.exists() else []


def _rezip(source: Path, target: Path, edit: dict[str, bytes | None]) -> None:
    """Copy a zip, replacing (bytes) or dropping (None) the members named in `edit`."""
    with zipfile.ZipFile(source) as old, zipfile.ZipFile(target, "w") as new:
        for member in old.infolist():
            if member.filename in edit:
                if edit[member.filename] is not None:
                    new.writestr(member.filename, edit[member.filename])
            else:
                new.writestr(member, old.read(member))


@pytest.fixture
def http_mirror(mirror: Path) -> Iterator[str]:
    """A real HTTP server on 127.0.0.1 serving the mirror folder, for the download path."""
    handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=str(mirror))
    handler.log_message = lambda *args: None  # keep test output quiet
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/"
    finally:
        server.shutdown()
        server.server_close()


def test_unknown_dataset_names_the_choices() -> None:
    with pytest.raises(DatasetError, match="Unknown dataset 'ml-10m'.*ml-100k, ml-1m"):
        data.get_dataset("ml-10m")


def test_registry_has_official_urls_and_checksums() -> None:
    for name, dataset in data.DATASETS.items():
        assert dataset.url == f"https://files.grouplens.org/datasets/movielens/{name}.zip"
        assert len(dataset.archive_sha256) == 64
        assert dataset.ratings_file in dataset.file_checksums


def test_data_dir_order(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    assert data.data_dir(tmp_path) == tmp_path
    monkeypatch.setenv("MF_COURSE_DATA", str(tmp_path / "env"))
    assert data.data_dir() == tmp_path / "env"
    monkeypatch.delenv("MF_COURSE_DATA")
    assert data.data_dir() == Path(data.__file__).resolve().parents[1] / "data"


def test_fetch_from_folder_mirror_verifies_official_archive(mirror: Path, tmp_path: Path) -> None:
    folder = fetch("ml-latest-small", tmp_path, mirror=str(mirror))
    assert folder == tmp_path / "ml-latest-small"
    assert "archive sha256" in (folder / data.VERIFIED_MARKER).read_text()
    assert _leftovers(tmp_path) == ["ml-latest-small"]


def test_cached_dataset_is_used_without_the_mirror(mirror: Path, tmp_path: Path) -> None:
    fetch("ml-latest-small", tmp_path, mirror=str(mirror))
    again = fetch("ml-latest-small", tmp_path, mirror=str(tmp_path / "no-such-mirror"))
    assert again == tmp_path / "ml-latest-small"


def test_rebuilt_archive_verifies_by_per_file_checksums(mirror: Path, tmp_path: Path) -> None:
    folder = fetch("ml-100k", tmp_path, mirror=str(mirror))
    assert "per-file checksums of 21 files" in (folder / data.VERIFIED_MARKER).read_text()


def test_download_over_real_http(http_mirror: str, tmp_path: Path) -> None:
    folder = fetch("ml-latest-small", tmp_path, mirror=http_mirror)
    assert (folder / "ratings.csv").is_file()
    assert _leftovers(tmp_path) == ["ml-latest-small"]


def test_http_mirror_without_the_archive_fails_cleanly(http_mirror: str, tmp_path: Path) -> None:
    with pytest.raises(DatasetError, match="Could not download .*ml-1m.zip.*save it as"):
        fetch("ml-1m", tmp_path, mirror=http_mirror)
    assert _leftovers(tmp_path) == []


def test_hand_saved_archive_is_used(mirror: Path, tmp_path: Path, no_network_settings) -> None:
    shutil.copy(mirror / "ml-latest-small.zip", tmp_path / "ml-latest-small.zip")
    assert (fetch("ml-latest-small", tmp_path) / "movies.csv").is_file()


def test_checksum_mismatch_leaves_no_cache(mirror: Path, tmp_path: Path) -> None:
    bad_mirror = tmp_path / "mirror"
    bad_mirror.mkdir()
    original = zipfile.ZipFile(mirror / "ml-latest-small.zip").read("ml-latest-small/ratings.csv")
    _rezip(mirror / "ml-latest-small.zip", bad_mirror / "ml-latest-small.zip",
           {"ml-latest-small/ratings.csv": original.replace(b"4.0", b"3.0", 1)})
    cache = tmp_path / "cache"
    with pytest.raises(DatasetError, match="Checksum mismatch for ml-latest-small/ratings.csv"):
        fetch("ml-latest-small", cache, mirror=str(bad_mirror))
    assert _leftovers(cache) == []


def test_truncated_archive_is_rejected(mirror: Path, tmp_path: Path) -> None:
    bad_mirror = tmp_path / "mirror"
    bad_mirror.mkdir()
    whole = (mirror / "ml-latest-small.zip").read_bytes()
    (bad_mirror / "ml-latest-small.zip").write_bytes(whole[: len(whole) // 2])
    cache = tmp_path / "cache"
    with pytest.raises(DatasetError, match="not a readable zip archive"):
        fetch("ml-latest-small", cache, mirror=str(bad_mirror))
    assert _leftovers(cache) == []


def test_member_escaping_the_folder_is_rejected(tmp_path: Path) -> None:
    bad_mirror = tmp_path / "mirror"
    bad_mirror.mkdir()
    with zipfile.ZipFile(bad_mirror / "ml-100k.zip", "w") as archive:
        archive.writestr("ml-100k/u.data", "1\t1\t5\t0\n")
        archive.writestr("ml-100k/../../escaped.txt", "gotcha")
    cache = tmp_path / "cache"
    with pytest.raises(DatasetError, match="outside the dataset folder"):
        fetch("ml-100k", cache, mirror=str(bad_mirror))
    assert _leftovers(cache) == []
    assert not list(tmp_path.rglob("escaped.txt"))


def test_archive_missing_an_expected_file(mirror: Path, tmp_path: Path) -> None:
    bad_mirror = tmp_path / "mirror"
    bad_mirror.mkdir()
    _rezip(mirror / "ml-100k.zip", bad_mirror / "ml-100k.zip", {"ml-100k/u.item": None})
    cache = tmp_path / "cache"
    with pytest.raises(DatasetError, match="is missing ml-100k/u.item"):
        fetch("ml-100k", cache, mirror=str(bad_mirror))
    assert _leftovers(cache) == []


def test_mirror_folder_without_the_archive(tmp_path: Path) -> None:
    with pytest.raises(DatasetError, match="has no ml-1m.zip"):
        fetch("ml-1m", tmp_path / "cache", mirror=str(tmp_path))


def test_offline_without_mirror_says_what_to_download(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, no_network_settings
) -> None:
    def offline(*args, **kwargs):
        raise urllib.error.URLError("no network")

    monkeypatch.setattr(data.urllib.request, "urlopen", offline)
    expected = (
        r"download https://files\.grouplens\.org/datasets/movielens/ml-latest-small\.zip .*"
        r"save it as .*ml-latest-small\.zip, or set MOVIELENS_MIRROR"
    )
    with pytest.raises(DatasetError, match=expected):
        fetch("ml-latest-small", tmp_path)
    assert _leftovers(tmp_path) == []


def test_unverified_folder_is_not_taken_for_a_cache(tmp_path: Path) -> None:
    (tmp_path / "ml-100k").mkdir()
    with pytest.raises(DatasetError, match="was not written by a verified download"):
        fetch("ml-100k", tmp_path, mirror=str(tmp_path))


def test_git_blob_checksum_matches_git(mirror: Path) -> None:
    path = mirror / ML1M_PARTIAL / "users.dat"
    expected = subprocess.run(["git", "hash-object", str(path)], capture_output=True,
                              text=True, check=True).stdout.strip()
    assert data._file_checksum(path, "git-blob") == f"git-blob:{expected}"
    assert data.DATASETS["ml-1m"].file_checksums["users.dat"] == (
        f"sha256:{data._sha256(path)}"
    )


def test_ml_latest_small_contents(mirror: Path, tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setenv(data.MIRROR_ENV, str(mirror))
    ratings = load_ratings("ml-latest-small", tmp_path)
    assert list(ratings.columns) == ["user_id", "item_id", "rating", "timestamp"]
    assert [str(t) for t in ratings.dtypes] == ["int64", "int64", "float32", "int64"]
    assert len(ratings) == 100_836
    assert ratings["user_id"].nunique() == 610 and ratings["item_id"].nunique() == 9_724
    assert sorted(ratings["rating"].unique()) == [x / 2 for x in range(1, 11)]
    movies = load_movies("ml-latest-small", tmp_path)
    assert len(movies) == 9_742 and movies["item_id"].is_unique
    toy_story = movies.set_index("item_id").loc[1]
    assert toy_story["title"] == "Toy Story (1995)"
    assert toy_story["genres"] == ["Adventure", "Animation", "Children", "Comedy", "Fantasy"]
    assert (movies["genres"].map(len) == 0).sum() == 34  # "(no genres listed)"


def test_ml_100k_contents(mirror: Path, tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setenv(data.MIRROR_ENV, str(mirror))
    ratings = load_ratings("ml-100k", tmp_path)
    assert len(ratings) == 100_000
    assert (ratings["user_id"].nunique(), ratings["item_id"].nunique()) == (943, 1_682)
    base = load_ratings("ml-100k", tmp_path, file_name="u1.base")
    test = load_ratings("ml-100k", tmp_path, file_name="u1.test")
    assert (len(base), len(test)) == (80_000, 20_000)
    movies = load_movies("ml-100k", tmp_path)
    assert len(movies) == 1_682
    assert movies.loc[0, "genres"] == ["Animation", "Children's", "Comedy"]
    assert "Café au Lait" in " ".join(movies["title"])  # latin-1 decoded


def test_ml_1m_parsers_on_the_sample(mirror: Path) -> None:
    ratings = parse_ratings(mirror / ML1M_PARTIAL / "ratings.sample-10000-lines.dat", (1, 5))
    assert len(ratings) == 10_000
    assert ratings.iloc[0].tolist() == [1, 1193, 5.0, 978300760]
    movies = parse_movies(mirror / ML1M_PARTIAL / "movies.dat")
    assert len(movies) == 3_883
    assert movies.loc[0, "genres"] == ["Animation", "Children's", "Comedy"]


@pytest.mark.parametrize(
    ("name", "text", "message"),
    [
        ("ratings.csv", "userId,movieId,rating,timestamp\n1,2,4.0,5\n1,x,3.0,6\n",
         r"ratings.csv, line 3: item_id is 'x', not a number"),
        ("ratings.csv", "userId,movieId,timestamp\n1,2,5\n",
         r"ratings.csv, line 1: the header lacks the column\(s\) rating"),
        ("ratings.csv", "userId,movieId,rating,timestamp\n1,2,4.0,5\n1,3,7.5,6\n",
         r"ratings.csv, line 3: rating 7.5 is outside the scale 0.5..5.0"),
        ("u.data", "1\t2\t4\t5\n1\t3\t\t6\n", r"u.data, line 2: rating is missing"),
        ("u.data", "1\t2\t4\n", r"u.data, line 1: expected 4 fields"),
        ("ratings.dat", "1::2::3::4\n1::2::3::4::5\n", r"ratings.dat: malformed table"),
    ],
)
def test_malformed_ratings_name_file_line_and_problem(
    tmp_path: Path, name: str, text: str, message: str
) -> None:
    path = tmp_path / name
    path.write_text(text)
    with pytest.raises(DatasetError, match=message):
        parse_ratings(path, (0.5, 5.0))


def test_ratings_frame_is_one_shape_for_every_format(mirror: Path, tmp_path: Path) -> None:
    csv = tmp_path / "ratings.csv"
    csv.write_text("userId,movieId,rating,timestamp\n1,2,4.5,5\n")
    tab = tmp_path / "u.data"
    tab.write_text("1\t2\t4.5\t5\n")
    dat = tmp_path / "ratings.dat"
    dat.write_text("1::2::4.5::5\n")
    frames = [parse_ratings(p, (0.5, 5.0)) for p in (csv, tab, dat)]
    for frame in frames[1:]:
        pd.testing.assert_frame_equal(frame, frames[0])
