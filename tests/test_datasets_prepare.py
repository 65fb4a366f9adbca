"""``bench datasets prepare|info|list`` against native-format archives served from 127.0.0.1."""

from __future__ import annotations

import gzip
import hashlib
import io
import json
import tarfile
import threading
import zipfile
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import polars as pl
import pytest
from typer.testing import CliRunner

from benchmark import datasets, method_datasets, official, shards
from benchmark.cli import app
from native import sources
from tests.shared_data import GREAT_SHARD

runner = CliRunner()


class Server:
    """Serves ``files`` (path -> bytes) with Range support; ``cut[path] = n`` closes the first
    response after n bytes."""

    def __init__(self) -> None:
        self.files: dict[str, bytes] = {}
        self.cut: dict[str, int] = {}
        self.ranges: list[str | None] = []
        owner = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: object) -> None:
                pass

            def do_GET(self) -> None:
                data = owner.files.get(self.path)
                if data is None:
                    self.send_error(404)
                    return
                rng = self.headers.get("Range")
                owner.ranges.append(rng)
                start = int(rng.removeprefix("bytes=").split("-")[0]) if rng else 0
                body = data[start:]
                self.send_response(206 if rng else 200)
                if rng:
                    self.send_header("Content-Range", f"bytes {start}-{len(data) - 1}/{len(data)}")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                n = owner.cut.pop(self.path, None)
                self.wfile.write(body if n is None else body[:n])
                if n is not None:
                    self.wfile.flush()
                    self.close_connection = True

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self.thread.start()

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.httpd.server_address[1]}{path}"


@pytest.fixture
def server():
    s = Server()
    yield s
    s.httpd.shutdown()
    s.httpd.server_close()


@pytest.fixture
def cache(tmp_path, monkeypatch):
    path = tmp_path / "cache"
    monkeypatch.setenv("BENCH_CACHE", str(path))
    return path


def great_zip(lines_per_split: int = 3) -> bytes:
    lines = GREAT_SHARD.read_text().splitlines()[: 3 * lines_per_split]
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as z:
        for i, split in enumerate(("train", "dev", "eval")):
            part = lines[i * lines_per_split : (i + 1) * lines_per_split]
            name = f"great-master/{split}/{split}__VARIABLE_MISUSE__SStuB.txt-00000-of-00001"
            z.writestr(name, "\n".join(part) + "\n")
    return buf.getvalue()


def csn_record(i: int, partition: str, **drop: bool) -> dict:
    code = f"def meth{i}(a, b)\n  a + b * {i}\nend"
    rec = {
        "repo": f"user/proj{i % 2}", "path": "lib/x.rb", "func_name": f"X.meth{i}",
        "original_string": code, "language": "ruby", "code": code,
        "code_tokens": ["def", f"meth{i}", "(", "a", ",", "b", ")", "a", "+", "b", "*", str(i)],
        "docstring": f"Adds things number {i}.",
        "docstring_tokens": ["Adds", "things", "number", str(i)],
        "sha": "0", "url": "", "partition": partition,
    }  # fmt: skip
    return {k: v for k, v in rec.items() if not drop.get(k)}


def csn_zip(records: dict[str, list[dict]] | None = None, raw: dict[str, bytes] | None = None):
    records = records or {
        "train": [csn_record(i, "train") for i in range(4)],
        "valid": [csn_record(10, "valid")],
        "test": [csn_record(20, "test"), csn_record(21, "test")],
    }
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as z:
        for split, recs in records.items():
            text = "".join(json.dumps(r) + "\n" for r in recs).encode()
            z.writestr(f"ruby/final/jsonl/{split}/ruby_{split}_0.jsonl.gz", gzip.compress(text))
        for name, data in (raw or {}).items():
            z.writestr(name, data)
    return buf.getvalue()


JAVA = """package p;
public class C%d {
    public int addAllValues(int[] values) {
        int total = %d;
        for (int v : values) { total += v; }
        return total;
    }
    public String getDisplayName(String first, String last) {
        String full = first + " " + last + "%d";
        return full.trim();
    }
}
"""


# One method of its own per split, so that deduplication leaves every split a sample.
UNIQUE = (
    'public int countWords(String text) { int n = 0; for (String w : text.split(" ")) '
    "{ n++; } return n; }",
    "public boolean isBlankName(String name) { if (name == null) { return true; } "
    "return name.trim().isEmpty(); }",
    "public long sumSquares(long[] xs) { long s = 0; for (long x : xs) { s += x * x; } return s; }",
)


def java_tgz() -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz") as t:
        for i, split in enumerate(("training", "validation", "test")):
            data = (JAVA % (i, i, i)).rstrip().removesuffix("}") + UNIQUE[i] + "\n}\n"
            info = tarfile.TarInfo(f"java-small/{split}/proj{i}/src/C{i}.java")
            info.size = len(data.encode())
            t.addfile(info, io.BytesIO(data.encode()))
    return buf.getvalue()


def sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def card_with(monkeypatch, name: str, **fields: object) -> None:
    """The card of ``name`` with some fields replaced (a test checksum)."""
    real = official.cards()
    patched = {**real, name: {**real[name], **fields}}
    monkeypatch.setattr(official, "cards", lambda: patched)


def invoke(*args: str):
    return runner.invoke(app, list(args))


def info_json(name: str) -> dict:
    r = invoke("datasets", "info", name, "--json")
    assert r.exit_code == 0, r.output
    return json.loads(r.stdout)


def one_line_error(r) -> str:
    assert r.exit_code != 0
    err = r.stderr.strip()
    assert "\n" not in err, err
    return err


def test_prepare_great_and_info(server, cache, monkeypatch):
    data = great_zip()
    server.files["/great.zip"] = data
    card_with(monkeypatch, "great", sha256=sha(data))
    r = invoke("datasets", "prepare", "great", "--url", server.url("/great.zip"))
    assert r.exit_code == 0, r.output
    assert (cache / "downloads" / "great" / "great-master.zip").read_bytes() == data
    info = info_json("great")
    assert (
        sum(info["samples"].values())
        + sum(sum(v.values()) for v in info["duplicates_removed"].values())
        == 9
    )
    assert info["fingerprint"] == sha(data)
    assert set(info["labels"]) <= {"train", "valid", "test"}
    assert info["vocabulary"]["source_tokens"] > 0


def test_prepare_codesearchnet_counts(server, cache):
    server.files["/ruby.zip"] = csn_zip()
    r = invoke("datasets", "prepare", "codesearchnet-ruby", "--url", server.url("/ruby.zip"))
    assert r.exit_code == 0, r.output
    info = info_json("codesearchnet-ruby")
    assert info["samples"] == {"train": 4, "valid": 1, "test": 2}
    assert info["vocabulary"]["doc_tokens"] == 7  # Adds things number 0..3
    _, df, _ = official.load("codesearchnet-ruby")
    assert set(df.collect_schema().names()) >= {"source_tokens", "doc_tokens", "code", "split",
                                                "repo"}  # fmt: skip


def test_prepare_java_tree_from_source(cache, tmp_path):
    archive = tmp_path / "java-small.tar.gz"
    archive.write_bytes(java_tgz())
    r = invoke("datasets", "prepare", "java-small", "--source", str(archive))
    assert r.exit_code == 0, r.output
    info = info_json("java-small")
    removed = sum(sum(v.values()) for v in info["duplicates_removed"].values())
    assert info["samples"]["train"] == 3 and sum(info["samples"].values()) + removed == 9
    assert info["labels"]["top_label"]["add"] == 1


def java_tree_tgz(files: dict[str, str]) -> bytes:
    """A code2seq-shaped tar.gz of the given members."""
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz") as t:
        for name, text in files.items():
            data = text.encode()
            info = tarfile.TarInfo(name)
            info.size = len(data)
            t.addfile(info, io.BytesIO(data))
    return buf.getvalue()


def test_sharded_build_equals_in_memory_dedup(cache, tmp_path, monkeypatch):
    # One file per shard, two keys per dedup bucket and three per spill force every
    # boundary; the result must be what the whole-frame rule gives.
    from benchmark import method_datasets, shards
    from benchmark.tasks.methods import java_samples

    monkeypatch.setattr(official, "FILES_PER_SHARD", 1)
    monkeypatch.setattr(shards, "BUCKET_ROWS", 2)
    monkeypatch.setattr(shards, "SPILL_ROWS", 3)
    upper = (JAVA % (1, 1, 1)).replace("total", "TOTAL")  # a near duplicate of C1
    files = {
        **{f"j/training/p{i}/C{i}.java": JAVA % (i, i, i) for i in range(4)},
        "j/validation/q/C1.java": JAVA % (1, 1, 1),  # exact duplicates of training
        "j/validation/q/D1.java": upper,
        "j/validation/q/C7.java": JAVA % (7, 7, 7),
        "j/validation/q/C9.java": (JAVA % (9, 9, 9)).replace("values", "elements"),  # kept
        "j/test/r/C7.java": JAVA % (7, 7, 7),  # duplicates of validation
        "j/test/r/C2.java": JAVA % (2, 2, 2),  # and of training
        "j/test/r/C8.java": (JAVA % (8, 8, 8)).replace("values", "items"),  # new: kept
        "j/test/r/Bad.java": "class Bad { void f( { }",
    }
    archive = tmp_path / "java-small.tar.gz"
    archive.write_bytes(java_tree_tgz(files))
    out = official.build(official.card_of("java-small"), archive, workers=2)
    built = official.load("java-small")[1].collect()
    info = json.loads((out / "info.json").read_text())
    assert len(list(out.glob("samples-*.parquet"))) == info["shards"]

    split = {"training": "train", "validation": "valid", "test": "test"}
    rows = [
        {**r, "split": split[name.split("/")[1]]}
        for name, text in files.items()
        for r in java_samples(name, text.encode(), method_datasets.MAX_TOKENS)
    ]
    expected, removed = method_datasets.dedup(pl.DataFrame(rows).unique("id", keep="first"))
    assert sorted(built["id"]) == sorted(expected["id"])
    assert info["duplicates_removed"] == removed
    assert all(removed[kind][s] > 0 for kind in ("exact", "near") for s in ("valid", "test"))
    assert info["files"] == len(files) and info["samples"]["test"] > 0


def test_wrong_checksum_leaves_nothing(server, cache, monkeypatch):
    server.files["/ruby.zip"] = csn_zip()
    card_with(monkeypatch, "codesearchnet-ruby", sha256="0" * 64)
    r = invoke("datasets", "prepare", "codesearchnet-ruby", "--url", server.url("/ruby.zip"))
    assert "does not match" in one_line_error(r)
    folder = cache / "downloads" / "codesearchnet-ruby"
    assert list(folder.iterdir()) == []
    assert official.prepared("codesearchnet-ruby") is None


def test_cut_connection_is_resumed(server, cache, monkeypatch):
    data = great_zip()
    server.files["/great.zip"] = data
    server.cut["/great.zip"] = len(data) // 2
    card_with(monkeypatch, "great", sha256=sha(data))
    url = server.url("/great.zip")
    r = invoke("datasets", "prepare", "great", "--url", url)
    assert "connection lost" in one_line_error(r)
    final = cache / "downloads" / "great" / "great-master.zip"
    assert not final.exists()
    assert final.with_name(final.name + ".part").stat().st_size == len(data) // 2
    r = invoke("datasets", "prepare", "great", "--url", url)
    assert r.exit_code == 0, r.output
    assert server.ranges[-1] == f"bytes={len(data) // 2}-"
    assert sha(final.read_bytes()) == sha(data)
    assert not final.with_name(final.name + ".part").exists()


class RawServer:
    """Answers every connection with ``answer``, bytes that need not be HTTP."""

    def __init__(self, answer: bytes) -> None:
        import socketserver

        class Handler(socketserver.BaseRequestHandler):
            def handle(self) -> None:
                self.request.recv(65536)
                self.request.sendall(answer)

        self.tcp = socketserver.ThreadingTCPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self.tcp.serve_forever, daemon=True).start()

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.tcp.server_address[1]}{path}"


@pytest.mark.parametrize(("answer", "says"), [
    (b"GARBAGE\r\n\r\n", "no HTTP answer (BadStatusLine"),
    (b"HTTP/1.1 200 OK\r\n" + b"X: " + b"y" * 70_000 + b"\r\n\r\n", "no HTTP answer (LineTooLong"),
    (b"HTTP/1.1 200 OK\r\nContent-Length: abc\r\n\r\nzz", "Content-Length 'abc' is no size"),
])  # fmt: skip
def test_an_answer_that_is_not_http_is_one_line(cache, answer: bytes, says: str):
    raw = RawServer(answer)
    try:
        err = one_line_error(invoke("datasets", "prepare", "great", "--url", raw.url("/g.zip")))
    finally:
        raw.tcp.shutdown()
        raw.tcp.server_close()
    assert raw.url("/g.zip") in err and says in err
    assert not (cache / "downloads" / "great" / "great-master.zip").exists()


def test_a_url_with_a_space_is_one_line(cache):
    err = one_line_error(invoke("datasets", "prepare", "great", "--url", "http://127.0.0.1:9/a b"))
    assert "not a URL this can download" in err and "InvalidURL" in err
    err = one_line_error(invoke("datasets", "prepare", "great", "--url", ""))
    assert err == "error: --url is empty; leave it out to download from the card's URL"


def test_a_download_that_is_not_the_archive_says_how_to_fetch_it_again(server, cache,
                                                                        monkeypatch):  # fmt: skip
    """A card without a checksum takes what the server sends; the archive that does not read
    is named, with how to get rid of it (else every later prepare reads it again)."""
    server.files["/great.zip"] = b"<html>not found</html>"
    card_with(monkeypatch, "great", sha256=None)
    err = one_line_error(invoke("datasets", "prepare", "great", "--url", server.url("/great.zip")))
    final = cache / "downloads" / "great" / "great-master.zip"
    assert f"remove {final} to download it again" in err
    final.unlink()
    server.files["/great.zip"] = great_zip()
    r = invoke("datasets", "prepare", "great", "--url", server.url("/great.zip"))
    assert r.exit_code == 0, r.output


def test_offline_says_what_to_fetch(cache):
    r = invoke("datasets", "prepare", "codesearchnet-ruby", "--url", "http://127.0.0.1:9/ruby.zip")
    err = one_line_error(r)
    assert "ruby.zip" in err and "--source" in err and str(cache / "downloads") in err


@pytest.mark.parametrize(
    ("make", "expect"),
    [
        (lambda: csn_zip(raw={"ruby/final/jsonl/train/bad.jsonl": b'{"code": 1}\n{oops\n'}),
         "bad.jsonl:1: missing"),
        (lambda: csn_zip(raw={"ruby/final/jsonl/train/bad.jsonl":
                              (json.dumps(csn_record(1, "train")) + "\n{oops\n").encode()}),
         "bad.jsonl:2: not JSON"),
        (lambda: csn_zip()[:-60], "ruby.zip: truncated or corrupt archive"),
        (lambda: csn_zip(raw={"ruby/final/jsonl/train/cut.jsonl.gz": gzip.compress(
            b"".join(json.dumps(csn_record(i, "train")).encode() + b"\n" for i in range(50))
        )[:-200]}), "cut.jsonl.gz:"),
    ],
)  # fmt: skip
def test_malformed_codesearchnet(cache, tmp_path, make, expect):
    archive = tmp_path / "ruby.zip"
    archive.write_bytes(make())
    r = invoke("datasets", "prepare", "codesearchnet-ruby", "--source", str(archive))
    assert expect in one_line_error(r)
    assert official.prepared("codesearchnet-ruby") is None
    assert not any(p.name.startswith(".build-") for p in (cache / "datasets").glob("*"))


def test_malformed_great_line(cache, tmp_path):
    folder = tmp_path / "great" / "train"
    folder.mkdir(parents=True)
    line = GREAT_SHARD.read_text().splitlines()[0]
    (folder / "train__VARIABLE_MISUSE__SStuB.txt-00000-of-00001").write_text(
        line + "\n" + json.dumps({"has_bug": False}) + "\n"
    )
    r = invoke("datasets", "prepare", "great", "--source", str(tmp_path / "great"))
    assert "train__VARIABLE_MISUSE__SStuB.txt-00000-of-00001:2: missing" in one_line_error(r)
    assert official.prepared("great") is None


def test_truncated_tar(cache, tmp_path):
    archive = tmp_path / "java-small.tar.gz"
    archive.write_bytes(java_tgz()[:-40])
    r = invoke("datasets", "prepare", "java-small", "--source", str(archive))
    assert "java-small.tar.gz: truncated or corrupt archive" in one_line_error(r)
    assert official.prepared("java-small") is None


def test_tar_cut_inside_a_member(cache, tmp_path):
    # Cut mid-stream, inside a member's data: the read of that member fails, still one line.
    files = {f"j/training/p{i}/C{i}.java": JAVA % (i, i, i) * 40 for i in range(3)}
    data = java_tree_tgz(files)
    archive = tmp_path / "java-small.tar.gz"
    archive.write_bytes(data[: len(data) // 2])
    err = one_line_error(invoke("datasets", "prepare", "java-small", "--source", str(archive)))
    assert "java-small.tar.gz" in err and "truncated or corrupt" in err
    assert official.prepared("java-small") is None


def test_list_json_covers_every_card(cache):
    r = invoke("datasets", "list", "--json")
    assert r.exit_code == 0, r.output
    rows = {row["name"]: row for row in json.loads(r.stdout)}
    assert {"java-small", "java-med", "java-large", "great", "codesearchnet-ruby", "jdk",
            "python-stdlib", "ruby-stdlib", "dir:PATH"} <= set(rows)  # fmt: skip
    assert rows["python-stdlib"]["available"] is True
    assert rows["great"]["available"] is False and "prepare great" in rows["great"]["note"]
    for c in official.cards().values():
        assert {"tasks", "language", "license", "split_rule"} <= set(c), c["name"]
        if c["kind"] == "official":
            assert {"url", "file", "format", "sha256", "checksum_note"} <= set(c), c["name"]


def test_info_python_stdlib_json(cache, tmp_path, monkeypatch):
    # a two-file stand-in for the standard library keeps the build to seconds
    root = tmp_path / "lib"
    root.mkdir()
    body = "def f{i}(a, b):\n    c = a + b\n    d = c * a\n    return d - b + c\n\n"
    for n in ("a.py", "b.py"):
        (root / n).write_text("".join(body.format(i=i) for i in range(4)))
    monkeypatch.setattr(sources, "python_stdlib", lambda: root)
    info = info_json("python-stdlib")
    assert info["name"] == "python-stdlib" and info["fingerprint"]
    assert sum(info["samples"].values()) > 0
    assert info["card"]["split_rule"].startswith("by file")
    assert "source_tokens" in info["vocabulary"]


def test_source_tree_builds_in_shards_and_selects_like_a_frame(cache, tmp_path, monkeypatch):
    # A dir:PATH Java tree goes through the same shards (one file each, here) and bucketed
    # dedup as the archives; the harness's lazy selection picks what it picked from a frame.
    from benchmark import method_datasets, shards
    from benchmark.profiles import Profile, select_splits
    from benchmark.tasks.methods import java_samples

    monkeypatch.setattr(method_datasets, "FILES_PER_SHARD", 1)
    monkeypatch.setattr(shards, "BUCKET_ROWS", 3)
    root = tmp_path / "tree"
    for i in range(24):
        path = root / f"p{i % 6}" / f"C{i}.java"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(JAVA % (i % 5, i % 5, i))  # repeats across files: duplicates to drop
    name = f"dir:{root}:java"
    _, lazy, info = method_datasets.load(name, cache)
    assert isinstance(lazy, pl.LazyFrame) and info["files"] == 24
    rows = [
        r
        for p in sorted(root.rglob("*.java"))
        for r in java_samples(p.relative_to(root).as_posix(), p.read_bytes(), 256)
    ]
    frame, removed = method_datasets.dedup(pl.DataFrame(rows).unique("id", keep="first"))
    assert info["duplicates_removed"] == removed and sum(sum(v.values()) for v in removed.values())
    assert sorted(lazy.collect()["id"]) == sorted(frame["id"])
    profile = Profile("t", 1, 256, {"train": 5, "valid": 2, "test": 2}, 60)
    picked, expected = select_splits(lazy, profile), select_splits(frame.sort("id"), profile)
    for s in ("train", "valid", "test"):
        assert picked[s]["id"].to_list() == expected[s]["id"].to_list(), s


# ruby-debian from the Debian packages installed here (.ci/run installs them): real files.
SOME_RUBY_PACKAGES = ("ruby-thor", "ruby-rack", "ruby-i18n", "ruby-sinatra")


def test_ruby_debian_names_the_install_command_when_a_package_is_missing(cache, monkeypatch):
    monkeypatch.setattr(sources, "DEBIAN_RUBY_PACKAGES", (*SOME_RUBY_PACKAGES, "ruby-no-such-lib"))
    err = one_line_error(invoke("datasets", "info", "ruby-debian"))
    assert "ruby-no-such-lib" in err and "ruby-thor" not in err
    assert "apt-get install -y --no-install-recommends ruby-no-such-lib" in err
    with pytest.raises(FileNotFoundError, match=r"apt-get install .* ruby-no-such-lib$"):
        method_datasets.load("ruby-debian", datasets.cache_root())


def test_ruby_debian_builds_from_the_installed_packages(cache, tmp_path):
    card = official.cards()["ruby-debian"]
    assert tuple(card["packages"]) == sources.DEBIAN_RUBY_PACKAGES
    assert all(p in card["how_to_get"].split() for p in sources.DEBIAN_RUBY_PACKAGES)
    src = sources.debian_ruby(SOME_RUBY_PACKAGES)  # fails naming apt-get if they are missing
    versions = sources.installed_versions(SOME_RUBY_PACKAGES)
    assert dict(src.packages) == versions and set(versions) == set(SOME_RUBY_PACKAGES)
    names = src.names()
    assert names == sorted(names) and {n.split("/")[0] for n in names} == set(SOME_RUBY_PACKAGES)
    assert not any("/spec/" in n or "/test/" in n for n in names)
    _, builder = method_datasets.source_of("ruby-debian")
    out = tmp_path / "built"
    method_datasets.build("ruby-debian", src, builder, out)
    info = json.loads((out / "info.json").read_text())
    assert info["packages"] == versions and info["files"] == len(names)
    df = shards.scan(out).collect()
    assert set(df["split"]) == {"train", "valid", "test"} and df.height > 300
    assert df["id"].str.split("/").list.first().is_in(SOME_RUBY_PACKAGES).all()
    assert df["doc_tokens"].list.len().min() >= 3
    # valid/test methods never repeat a training method's tokens, across packages too
    train = set(df.filter(pl.col("split") == "train")["clean_hash"])
    assert not train & set(df.filter(pl.col("split") != "train")["clean_hash"])


def test_an_empty_bench_cache_is_the_default_not_the_current_folder(tmp_path, monkeypatch):
    from benchmark.cache import cache_root

    monkeypatch.setenv("HOME", str(tmp_path))
    monkeypatch.setenv("BENCH_CACHE", "")
    assert cache_root() == tmp_path / ".cache" / "bench"


def test_a_source_file_that_fails_on_read_is_named(cache, tmp_path):
    """An error raised by read() carries no file name; the line names the file anyway."""
    source = tmp_path / "src"
    source.mkdir()
    (source / "a.jsonl").write_text("x\n")
    (source / "b.jsonl").symlink_to("/proc/self/clear_refs")  # opens, then read() fails
    err = one_line_error(invoke("datasets", "prepare", "codesearchnet-ruby", "--source",
                                str(source)))  # fmt: skip
    assert f"{source / 'b.jsonl'}: cannot read" in err
