"""utils.data: registry, verified fetching (folder mirror, real HTTP, hand-saved archive), bad
archives that must never become a cache, and the parsers of all three formats."""

from __future__ import annotations

import functools
import hashlib
import http.server
import os
import re
import shutil
import subprocess
import threading
import time
import urllib.error
import zipfile
from collections.abc import Callable, Iterator
from pathlib import Path

import pandas as pd
import pytest

from utils import data
from utils.data import (
    Dataset,
    DatasetError,
    fetch,
    load_movies,
    load_ratings,
    parse_100k_movies,
    parse_movies,
    parse_ratings,
    verify_cache,
)

ML1M_PARTIAL = "ml-1m-partial"


def _leftovers(root: Path) -> list[str]:
    """Everything in a cache folder but the (empty) lock files: must be empty after a failure."""
    return sorted(p.name for p in root.iterdir() if p.suffix != ".lock") if root.exists() else []


def _rezip(source: Path, target: Path, edit: dict[str, bytes | None]) -> None:
    """Copy a zip, replacing (bytes) or dropping (None) the members named in `edit`."""
    with zipfile.ZipFile(source) as old, zipfile.ZipFile(target, "w") as new:
        for member in old.infolist():
            if member.filename in edit:
                if edit[member.filename] is not None:
                    new.writestr(member.filename, edit[member.filename])
            else:
                new.writestr(member, old.read(member))


TOY_FILES = {
    "ratings.csv": b"userId,movieId,rating,timestamp\n1,1,4.0,10\n1,2,3.5,11\n2,1,5.0,12\n",
    "movies.csv": b"movieId,title,genres\n1,Heat (1995),Action\n2,Babe (1995),Comedy\n",
}


def _toy_zip(path: Path, extra: dict[str | zipfile.ZipInfo, bytes] | None = None) -> Path:
    """A tiny MovieLens-shaped archive; `extra` members (name or ZipInfo: bytes) add or replace."""
    path.parent.mkdir(parents=True, exist_ok=True)
    extra = extra or {}
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, content in TOY_FILES.items():
            if f"toy/{name}" not in extra:
                archive.writestr(f"toy/{name}", content)
        for member, content in extra.items():
            archive.writestr(member, content)
    return path


def _toy_mirror(tmp_path: Path, extra: dict[str | zipfile.ZipInfo, bytes]) -> Path:
    """A mirror folder whose toy.zip holds the toy files and the `extra` members."""
    _toy_zip(tmp_path / "bad-mirror" / "toy.zip", extra)
    return tmp_path / "bad-mirror"


@pytest.fixture
def toy(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Dataset:
    """A registered toy dataset whose official archive is tmp_path/mirror/toy.zip."""
    archive = _toy_zip(tmp_path / "mirror" / "toy.zip")
    dataset = Dataset(
        name="toy",
        archive_sha256=hashlib.sha256(archive.read_bytes()).hexdigest(),
        archive_bytes=archive.stat().st_size,
        ratings_file="ratings.csv",
        movies_file="movies.csv",
        rating_scale=(0.5, 5.0),
        extracted_bytes=sum(map(len, TOY_FILES.values())),
        file_checksums={
            name: f"sha256:{hashlib.sha256(content).hexdigest()}"
            for name, content in TOY_FILES.items()
        },
    )
    monkeypatch.setitem(data.DATASETS, "toy", dataset)
    monkeypatch.delenv(data.MIRROR_ENV, raising=False)
    return dataset


def _serve(reply: Callable[[http.server.BaseHTTPRequestHandler], None]) -> Iterator[str]:
    """An HTTP server on 127.0.0.1 whose every GET is answered by `reply(handler)`."""

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:  # noqa: N802 (the name http.server calls)
            try:
                reply(self)
            except OSError:  # the client gave up, as it should
                pass

        def log_message(self, *args) -> None:  # keep test output quiet
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/"
    finally:
        server.shutdown()
        server.server_close()


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


@pytest.mark.parametrize(
    "member",
    ["toy/../../escaped.txt", "../escaped.txt", "/escaped.txt", "C:/escaped.txt", ".", "./"],
)
def test_member_escaping_the_folder_is_rejected(
    toy: Dataset, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, member: str
) -> None:
    def unpacking(*args, **kwargs):
        raise AssertionError("a member was unpacked from an archive that should be rejected")

    # zipfile itself would quietly drop "..", so the check must fire before anything is unpacked.
    monkeypatch.setattr(zipfile.ZipFile, "extract", unpacking)
    monkeypatch.setattr(zipfile.ZipFile, "extractall", unpacking)
    bad_mirror = _toy_mirror(tmp_path, {member: b"gotcha"})
    cache = tmp_path / "cache"
    expected = re.escape(f"holds the member '{member}', which would be written outside")
    with pytest.raises(DatasetError, match=expected):
        fetch("toy", cache, mirror=str(bad_mirror))
    assert _leftovers(cache) == []


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
         r"ratings.csv, line 3: item_id is 'x', not a whole number"),
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


# --- Damaged and hostile archives -------------------------------------------------------------


def test_every_single_flipped_byte_gives_a_dataset_error_or_a_verified_cache(
    toy: Dataset, tmp_path: Path
) -> None:
    whole = (tmp_path / "mirror" / "toy.zip").read_bytes()
    for position in range(0, len(whole), 3):  # every third byte keeps the test to a few seconds
        flipped = bytearray(whole)
        flipped[position] ^= 0xFF
        mirror = tmp_path / f"flip-{position}"
        mirror.mkdir()
        (mirror / "toy.zip").write_bytes(bytes(flipped))
        cache = tmp_path / f"cache-{position}"
        try:
            folder = fetch("toy", cache, mirror=str(mirror))
        except DatasetError as error:
            assert str(mirror / "toy.zip") in str(error)
            assert _leftovers(cache) == []
        else:  # the byte did not matter (a time stamp, say): the files must still be genuine
            assert (folder / "ratings.csv").read_bytes() == TOY_FILES["ratings.csv"]


def _symlink(name: str) -> zipfile.ZipInfo:
    member = zipfile.ZipInfo(name)
    member.external_attr = 0o120777 << 16  # S_IFLNK: unzip tools would create a link
    return member


def _mark_encrypted(path: Path, name: str) -> None:
    """Set the 'encrypted' flag of one member (zipfile cannot write encrypted members)."""
    raw = bytearray(path.read_bytes())
    raw[zipfile.ZipFile(path).getinfo(name).header_offset + 6] |= 0x1  # local header
    central = raw.rfind(b"PK\x01\x02", 0, raw.rfind(name.encode()))
    raw[central + 8] |= 0x1  # central directory entry
    path.write_bytes(bytes(raw))


@pytest.mark.parametrize("problem", ["which is a symbolic link", "which is encrypted"])
def test_links_and_encrypted_members_are_rejected(
    toy: Dataset, tmp_path: Path, problem: str
) -> None:
    bad_mirror = tmp_path / "bad-mirror"
    member = _symlink("toy/link.csv") if "link" in problem else "toy/secret.csv"
    _toy_zip(bad_mirror / "toy.zip", {member: b"/etc/passwd"})
    if "encrypted" in problem:
        _mark_encrypted(bad_mirror / "toy.zip", "toy/secret.csv")
    expected = f"{bad_mirror / 'toy.zip'} holds the member .*{problem}"
    with pytest.raises(DatasetError, match=expected):
        fetch("toy", tmp_path / "cache", mirror=str(bad_mirror))
    assert _leftovers(tmp_path / "cache") == []


@pytest.mark.parametrize(
    "extra",
    [{"toy/padding.bin": bytes(2 << 20)},  # compresses to a few KB, unpacks to 2 MiB
     {"toy/" + "x" * 300: b"a name longer than any file system allows"}],
)
def test_members_no_checksum_lists_are_never_unpacked(
    toy: Dataset, tmp_path: Path, extra: dict[str, bytes]
) -> None:
    folder = fetch("toy", tmp_path / "cache", mirror=str(_toy_mirror(tmp_path, extra)))
    assert sorted(p.name for p in folder.iterdir()) == [".verified", "movies.csv", "ratings.csv"]
    assert "per-file checksums" in (folder / data.VERIFIED_MARKER).read_text()


def test_zip_bomb_is_refused_before_unpacking(toy: Dataset, tmp_path: Path) -> None:
    bomb = {"toy/ratings.csv": b"1" * (8 << 20)}  # 8 MiB that deflate to about 8 KB
    cache = tmp_path / "cache"
    with pytest.raises(DatasetError, match=r"would unpack to 8,388,\d{3} bytes, more than the"):
        fetch("toy", cache, mirror=str(_toy_mirror(tmp_path, bomb)))
    assert _leftovers(cache) == []


def test_archive_larger_than_any_genuine_one_is_not_read(toy: Dataset, tmp_path: Path) -> None:
    bad_mirror = tmp_path / "bad-mirror"
    bad_mirror.mkdir()
    with (bad_mirror / "toy.zip").open("wb") as archive:
        archive.truncate(toy.byte_limit + 1)
    with pytest.raises(DatasetError, match="is larger than the .* bytes that any genuine toy.zip"):
        fetch("toy", tmp_path / "cache", mirror=str(bad_mirror))


# --- Where the archive comes from ----------------------------------------------------------


def test_corrupt_hand_saved_archive_gives_way_to_a_good_mirror(
    toy: Dataset, tmp_path: Path
) -> None:
    cache = tmp_path / "cache"
    cache.mkdir()
    (cache / "toy.zip").write_bytes(b"PK\x03\x04 not really a zip")
    with pytest.warns(UserWarning, match=f"{cache / 'toy.zip'} is not a readable zip.*Used "):
        folder = fetch("toy", cache, mirror=str(tmp_path / "mirror"))
    assert (folder / "ratings.csv").read_bytes() == TOY_FILES["ratings.csv"]


def test_corrupt_hand_saved_archive_is_named_when_nothing_else_works(
    toy: Dataset, tmp_path: Path
) -> None:
    cache = tmp_path / "cache"
    cache.mkdir()
    (cache / "toy.zip").write_bytes(b"garbage")
    expected = f"{re.escape(str(cache / 'toy.zip'))} is not a readable zip.*has no toy.zip"
    with pytest.raises(DatasetError, match=expected):
        fetch("toy", cache, mirror=str(tmp_path / "empty-mirror"))


def test_stale_scratch_folders_of_a_killed_fetch_are_removed(toy: Dataset, tmp_path: Path) -> None:
    cache = tmp_path / "cache"
    stale = cache / ".toy-k1ll3d"
    stale.mkdir(parents=True)
    (stale / "toy.zip").write_bytes(bytes(1000))
    fetch("toy", cache, mirror=str(tmp_path / "mirror"))
    assert _leftovers(cache) == ["toy"]


def test_two_fetches_at_once_both_get_the_verified_cache(
    toy: Dataset, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Hold each fetch just before it installs its copy until the other one is there too (or a
    # second has passed, which is what happens when the fetches take turns).
    both_verified = threading.Barrier(2, timeout=1.0)
    verify = data._verify

    def verify_then_wait(*args):
        result = verify(*args)
        try:
            both_verified.wait()
        except threading.BrokenBarrierError:
            pass
        return result

    monkeypatch.setattr(data, "_verify", verify_then_wait)
    results: list[Path | BaseException] = []

    def fetch_toy() -> None:
        try:
            results.append(fetch("toy", tmp_path / "cache", mirror=str(tmp_path / "mirror")))
        except BaseException as error:  # noqa: BLE001 (reported by the assertion below)
            results.append(error)

    threads = [threading.Thread(target=fetch_toy) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert results == [tmp_path / "cache" / "toy"] * 2
    assert _leftovers(tmp_path / "cache") == ["toy"]


# --- The cache folder ------------------------------------------------------------------------


def test_data_folder_setting_expands_the_home_folder(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("HOME", str(tmp_path))
    monkeypatch.setenv("MF_COURSE_DATA", "~/movielens")
    assert data.data_dir() == tmp_path / "movielens"


def test_data_folder_setting_that_is_a_file(
    toy: Dataset, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    (tmp_path / "a-file").write_text("not a folder")
    monkeypatch.setenv("MF_COURSE_DATA", str(tmp_path / "a-file"))
    with pytest.raises(DatasetError, match="is a file, not a folder. Set MF_COURSE_DATA to"):
        fetch("toy", mirror=str(tmp_path / "mirror"))


def test_read_only_data_folder_names_the_setting(
    toy: Dataset, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    read_only = tmp_path / "read-only"
    read_only.mkdir()
    read_only.chmod(0o555)
    if os.geteuid() == 0:  # permission bits do not bind root (CI runs as root): honour them
        monkeypatch.setattr(data.os, "access",
                            lambda path, mode: not os.stat(path).st_mode & 0o200 == 0)
    monkeypatch.setenv("MF_COURSE_DATA", str(read_only))
    expected = f"{read_only} \\(from \\$MF_COURSE_DATA\\) cannot be written.*Set MF_COURSE_DATA"
    try:
        with pytest.raises(DatasetError, match=expected):
            fetch("toy", mirror=str(tmp_path / "mirror"))
    finally:
        read_only.chmod(0o755)
    assert _leftovers(read_only) == []


def test_a_cached_file_changed_later_is_caught_on_load(toy: Dataset, tmp_path: Path) -> None:
    folder = fetch("toy", tmp_path, mirror=str(tmp_path / "mirror"))
    ratings = folder / "ratings.csv"
    ratings.write_bytes(TOY_FILES["ratings.csv"][:-3])  # a cut time stamp on the last row
    fix = f"Delete the folder {folder} and run again"
    size = len(TOY_FILES["ratings.csv"])
    with pytest.raises(DatasetError, match=f"ratings.csv has {size - 3} bytes instead of {size}"):
        load_ratings("toy", tmp_path)
    ratings.write_bytes(TOY_FILES["ratings.csv"].replace(b"4.0", b"3.0"))  # same size
    with pytest.raises(DatasetError, match=f"the content of ratings.csv was edited. {fix}"):
        load_ratings("toy", tmp_path)
    ratings.unlink()
    with pytest.raises(DatasetError, match=f"ratings.csv is missing. {fix}"):
        load_ratings("toy", tmp_path)


def test_verify_cache_rechecks_every_byte(toy: Dataset, tmp_path: Path) -> None:
    folder = fetch("toy", tmp_path, mirror=str(tmp_path / "mirror"))
    assert verify_cache("toy", tmp_path) == folder
    ratings = folder / "ratings.csv"
    stamp = ratings.stat()
    ratings.write_bytes(TOY_FILES["ratings.csv"].replace(b"4.0", b"3.0"))
    os.utime(ratings, ns=(stamp.st_atime_ns, stamp.st_mtime_ns))  # size and time look unchanged
    assert fetch("toy", tmp_path) == folder  # the quick check cannot see it ...
    with pytest.raises(DatasetError, match="the content of ratings.csv was edited"):
        verify_cache("toy", tmp_path)  # ... the full one does


def test_a_cache_from_before_the_stamps_is_verified_once(toy: Dataset, tmp_path: Path) -> None:
    folder = fetch("toy", tmp_path, mirror=str(tmp_path / "mirror"))
    (folder / data.VERIFIED_MARKER).write_text("archive sha256 0123\n")  # the old marker
    assert fetch("toy", tmp_path) == folder
    assert '"files"' in (folder / data.VERIFIED_MARKER).read_text()
    (folder / data.VERIFIED_MARKER).write_text("archive sha256 0123\n")
    (folder / "movies.csv").write_bytes(b"movieId,title,genres\n")
    with pytest.raises(DatasetError, match="Checksum mismatch for toy/movies.csv"):
        fetch("toy", tmp_path)


def test_unknown_file_of_a_release_lists_its_files(toy: Dataset, tmp_path: Path) -> None:
    with pytest.raises(DatasetError, match="toy has no file 'u1.bas'. Its files are: movies.csv"):
        load_ratings("toy", tmp_path / "cache", file_name="u1.bas") if fetch(
            "toy", tmp_path / "cache", mirror=str(tmp_path / "mirror")) else None


# --- HTTP faults (a local server; each case takes well under a second) -------------------------


@pytest.fixture
def fast_limits(monkeypatch: pytest.MonkeyPatch) -> None:
    """Download limits small enough to hit in a test."""
    monkeypatch.setattr(data, "READ_TIMEOUT_S", 2.0)
    monkeypatch.setattr(data, "DOWNLOAD_DEADLINE_S", 5.0)
    monkeypatch.setattr(data, "RATE_GRACE_S", 5.0)
    monkeypatch.setattr(data, "MIN_BYTES_PER_S", 0)


def _cut_chunked_body(handler: http.server.BaseHTTPRequestHandler) -> None:
    handler.protocol_version = "HTTP/1.1"
    handler.send_response(200)
    handler.send_header("Transfer-Encoding", "chunked")
    handler.end_headers()
    handler.wfile.write(b"400\r\n" + bytes(100))  # a 1 KB chunk, cut after 100 bytes
    handler.close_connection = True


def _garbage_status_line(handler: http.server.BaseHTTPRequestHandler) -> None:
    handler.wfile.write(b"HTTQ/9 banana\r\n\r\n")


def _trickle(handler: http.server.BaseHTTPRequestHandler) -> None:
    """100 bytes every 50 ms of a declared 50 KB, for at most 3 s."""
    handler.send_response(200)
    handler.send_header("Content-Length", str(50_000))
    handler.end_headers()
    for _ in range(60):
        handler.wfile.write(bytes(100))
        handler.wfile.flush()
        time.sleep(0.05)


def _endless(handler: http.server.BaseHTTPRequestHandler) -> None:
    """A body without a length that goes on and on (here: 32 MiB, then it stops)."""
    handler.send_response(200)
    handler.end_headers()
    for _ in range(512):
        handler.wfile.write(bytes(1 << 16))


def _huge_length(handler: http.server.BaseHTTPRequestHandler) -> None:
    handler.send_response(200)
    handler.send_header("Content-Length", str(10**12))
    handler.end_headers()


@pytest.mark.parametrize(
    ("reply", "limits", "message"),
    [
        (_cut_chunked_body, {}, r"Could not download .*toy.zip \(IncompleteRead"),
        (_garbage_status_line, {}, r"Could not download .*toy.zip \(BadStatusLine"),
        (_trickle, {"DOWNLOAD_DEADLINE_S": 0.5},
         r"Gave up downloading .* after [\d.]+ s \(the limit is 0.5 s\) with only [\d,]+ bytes"),
        (_trickle, {"RATE_GRACE_S": 0.3, "MIN_BYTES_PER_S": 50_000},
         r"it arrives at [\d,]+ bytes/s, below the minimum of 50,000 bytes/s"),
        (_endless, {}, r"is larger than the [\d,]+ bytes that any genuine toy.zip"),
        (_huge_length, {}, r"is larger than the [\d,]+ bytes that any genuine toy.zip"),
    ],
    ids=["cut-chunked-body", "garbage-status-line", "deadline", "minimum-rate", "endless-body",
         "huge-length"],
)
def test_http_faults_give_a_clear_error_and_leave_nothing(
    toy: Dataset, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, fast_limits: None,
    reply: Callable, limits: dict[str, float], message: str,
) -> None:
    for name, value in limits.items():
        monkeypatch.setattr(data, name, value)
    started = time.monotonic()
    with pytest.raises(DatasetError, match=message):
        for url in _serve(reply):
            fetch("toy", tmp_path / "cache", mirror=url)
    assert time.monotonic() - started < 3.0
    assert _leftovers(tmp_path / "cache") == []


# --- Parsers -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "content", "message"),
    [
        ("u.data", b"1.7\t2\t4\t5\n", r"u.data, line 1: user_id is '1.7', not a whole number"),
        ("u.data", f"1\t{2**70}\t4\t5\n".encode(), r"line 1: item_id is '1180591620717411303424'"),
        ("u.data", b"1\t2\t4\t5\n1\tinf\t4\t5\n", r"u.data, line 2: item_id is 'inf', not a"),
        ("u.data", b"-3\t2\t4\t5\n", r"user_id is '-3', not a whole number from 0"),
        ("ratings.dat", b"1::2::4::5.5\n", r"line 1: timestamp is '5.5', not a whole number"),
        ("u.data", b"", r"u.data is empty. If it is part of the download cache, delete the"),
        ("ratings.csv", b"userId,movieId,rating,timestamp\n", r"ratings.csv has a header but no"),
        ("ratings.csv", "userId,movieId,rating,timestamp\n1,2,4.0,5\n".encode("utf-16"),
         r"ratings.csv holds NUL bytes \(is it UTF-16 or binary\?\)"),
        ("ratings.csv", b"userId,movieId,rating,timestamp\n1,2,4.0,5\n1,3,4.0,5,9\n",
         r"ratings.csv: malformed table .*Expected 4 fields in line 3, saw 5"),
        ("missing.csv", None, r"missing.csv does not exist. If it is part of the download cache"),
    ],
)
def test_bad_ratings_files_name_the_file_and_the_fix(
    tmp_path: Path, name: str, content: bytes | None, message: str
) -> None:
    path = tmp_path / name
    if content is not None:
        path.write_bytes(content)
    with pytest.raises(DatasetError, match=message):
        parse_ratings(path, (0.5, 5.0))


def test_movies_file_in_the_wrong_encoding(tmp_path: Path) -> None:
    path = tmp_path / "movies.csv"
    path.write_bytes("movieId,title,genres\n1,Café (1999),Drama\n".encode("latin-1"))
    with pytest.raises(DatasetError, match=r"movies.csv is not utf-8 text .*save it as utf-8"):
        parse_movies(path)


@pytest.mark.parametrize(
    ("genre_text", "item_line", "message"),
    [
        ("", "1|Heat (1995)|01-Jan-1995||url|0|1", r"u.genre is empty"),
        (None, "1|Heat (1995)|01-Jan-1995||url|0|1", r"u.genre does not exist. If it is part of"),
        ("unknown|0\nAction|1\n", "1|Heat (1995)|01-Jan-1995||url|0|1|1",
         r"u.item, line 1: expected 7 fields .* found 8"),
        ("unknown|0\nAction|1\n", "inf|Heat (1995)|01-Jan-1995||url|0|1",
         r"u.item, line 1: item_id is 'inf', not a whole number"),
    ],
)
def test_bad_100k_movie_files_name_the_file_and_the_fix(
    tmp_path: Path, genre_text: str | None, item_line: str, message: str
) -> None:
    if genre_text is not None:
        (tmp_path / "u.genre").write_text(genre_text, encoding="latin-1")
    (tmp_path / "u.item").write_text(item_line + "\n", encoding="latin-1")
    with pytest.raises(DatasetError, match=message):
        parse_100k_movies(tmp_path / "u.item", tmp_path / "u.genre")


def test_a_pair_rated_twice_keeps_its_latest_rating_with_a_warning(tmp_path: Path) -> None:
    path = tmp_path / "u.data"
    path.write_text("1\t2\t4\t500\n3\t4\t2\t100\n1\t2\t1\t300\n5\t6\t3\t200\n")
    with pytest.warns(UserWarning, match=r"1 \(user, item\) pairs are rated more than once "
                                         r"\(the first: user 1, item 2\).*dropped 1 rows"):
        ratings = parse_ratings(path, (1, 5))
    assert ratings.values.tolist() == [[1, 2, 4, 500], [3, 4, 2, 100], [5, 6, 3, 200]]
