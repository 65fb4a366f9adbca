"""Where corpora come from: a zip archive (the JDK's ``lib/src.zip``) or a directory tree.

A source lists file names and reads one file's bytes; it is small and picklable, so worker
processes open the archive themselves instead of receiving file contents through pipes.
"""

from __future__ import annotations

import glob
import os
import shutil
import struct
import subprocess
import sysconfig
import zipfile
import zlib
from collections import Counter
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path

SUFFIX = {"java": ".java", "python": ".py", "ruby": ".rb"}
# Test suites and their data hold deliberately broken, old-dialect or generated code.
SKIP_DIRS = frozenset(
    {"site-packages", "dist-packages", "test", "tests", "idle_test", "__pycache__"}
)
# What a damaged zip raises while it is opened or read (a truncated member, a bad CRC, an
# unsupported or encrypted entry), so that one damaged member costs only itself.
ZIP_ERRORS = (zipfile.BadZipFile, zlib.error, EOFError, RuntimeError, NotImplementedError,
              struct.error, OverflowError, UnicodeDecodeError, ValueError)  # fmt: skip


def shown(name: str) -> str:
    """A file name as it can be printed and stored: valid UTF-8 (undecodable bytes replaced),
    control characters escaped, so an error naming it stays one line."""
    text = name.encode("utf-8", "surrogateescape").decode("utf-8", "replace")
    if text.isprintable():
        return text
    return "".join(c if c.isprintable() else repr(c)[1:-1] for c in text)


@dataclass
class ZipSource:
    """The members of a zip archive whose names end with ``suffix``."""

    path: Path
    suffix: str
    _zip: zipfile.ZipFile | None = field(default=None, repr=False, compare=False)

    def names(self) -> list[str]:
        return self.listing()[0]

    def listing(self) -> tuple[list[str], list[str]]:
        """(matching members, one line per name the archive holds more than once): a name
        reads as its last member, as zipfile and unzip read it, and the earlier ones are
        counted as left out rather than silently shadowed."""
        try:
            with zipfile.ZipFile(self.path) as z:
                listed = [n for n in z.namelist() if n.endswith(self.suffix)]
        except (OSError, *ZIP_ERRORS) as e:
            raise _input_error(f"{self.path}: not a readable zip archive ({_reason(e)})") from None
        counts = Counter(listed)
        shadowed = [
            f"{shown(n)}: member {i} of {k} of this name, left out (the last is read)"
            for n, k in sorted(counts.items()) for i in range(1, k)
        ]  # fmt: skip
        return sorted(counts), shadowed

    def size(self, name: str) -> int:
        try:
            return self._open().getinfo(name).file_size
        except ZIP_ERRORS as e:
            raise OSError(f"corrupt zip archive ({_reason(e)})") from None

    def read(self, name: str) -> bytes:
        """The member's bytes; a damaged member is an OSError, like an unreadable file."""
        try:
            return self._open().read(name)
        except ZIP_ERRORS as e:
            raise OSError(f"corrupt zip member ({_reason(e)})") from None

    def _open(self) -> zipfile.ZipFile:
        if self._zip is None:
            self._zip = zipfile.ZipFile(self.path)
        return self._zip

    def __getstate__(self) -> dict:
        return {"path": self.path, "suffix": self.suffix, "_zip": None}


@dataclass(frozen=True)
class DirSource:
    """Files under ``root`` ending with ``suffix``, test suites and installed packages aside."""

    root: Path
    suffix: str
    files: tuple[str, ...] | None = None  # relative paths; None: every match under root

    def names(self) -> list[str]:
        return self.listing()[0]

    def listing(self) -> tuple[list[str], list[str]]:
        """(matching files, one line per sub-folder that could not be read); a root that cannot
        be read is a ``FormatError``, as it yields nothing."""
        if self.files is not None:
            return list(self.files), []
        if not os.access(self.root, os.R_OK | os.X_OK) or not self.root.is_dir():
            raise _input_error(f"{self.root}: cannot read this folder")
        found, unread = [], []

        def failed(e: OSError) -> None:
            if Path(e.filename) == self.root:
                raise _input_error(f"{self.root}: cannot read this folder ({e.strerror})")
            rel = Path(e.filename).relative_to(self.root).as_posix()
            unread.append(f"{shown(rel)}/: cannot read this folder ({e.strerror})")

        for here, dirs, files in os.walk(self.root, onerror=failed):
            rel = Path(here).relative_to(self.root)
            dirs[:] = [d for d in dirs if d not in SKIP_DIRS]
            for f in (f for f in files if f.endswith(self.suffix)):
                if is_file(Path(here) / f):
                    found.append((rel / f).as_posix())
                else:  # named as a source, but nothing to parse: counted, never silently gone
                    unread.append(f"{shown((rel / f).as_posix())}: not a regular file (a broken "
                                  "or looping link, a fifo or a device)")  # fmt: skip
        return sorted(found), sorted(unread)

    def size(self, name: str) -> int:
        return (self.root / name).stat().st_size

    def read(self, name: str) -> bytes:
        return (self.root / name).read_bytes()


@dataclass(frozen=True)
class FileListSource:
    """Named files at given paths: the ``.rb`` files of some Debian packages, named
    ``package/path`` without the gem's version, so a package upgrade keeps each file's split."""

    files: tuple[tuple[str, str], ...]  # (name, absolute path), sorted by name
    packages: tuple[tuple[str, str], ...] = ()  # (Debian package, installed version)

    def names(self) -> list[str]:
        return [n for n, _ in self.files]

    @cached_property
    def _paths(self) -> dict[str, str]:
        return dict(self.files)

    def size(self, name: str) -> int:
        return Path(self._paths[name]).stat().st_size

    def read(self, name: str) -> bytes:
        return Path(self._paths[name]).read_bytes()


Source = ZipSource | DirSource | FileListSource

# A larger offline Ruby corpus for code_to_text and code_search (`--dataset ruby-debian`):
# pure-Ruby, well documented libraries of Debian 12, ~10,300 documented methods (ruby-stdlib
# has ~2,200).
DEBIAN_RUBY_PACKAGES = (
    "ruby-activesupport", "ruby-activerecord", "ruby-actionpack", "ruby-actionview",
    "ruby-activemodel", "ruby-railties", "ruby-activejob", "ruby-actionmailer",
    "ruby-activestorage", "ruby-actioncable", "ruby-rack", "ruby-sinatra", "ruby-thor",
    "ruby-i18n", "ruby-rspec-core", "ruby-rspec-expectations", "ruby-rspec-mocks", "ruby-sequel",
    "rubocop", "ruby-rubocop-ast", "ruby-whitequark-parser", "ruby-concurrent", "yard",
    "ruby-mail", "ruby-faraday", "ruby-addressable", "ruby-net-ssh", "ruby-httpclient",
    "ruby-kramdown", "ruby-asciidoctor", "ruby-prawn", "ruby-tzinfo", "ruby-redis",
)  # fmt: skip
# Where a package's library code lies; its documentation, examples and test suites are left out.
_LIB_ROOTS = ("/usr/lib/ruby/vendor_ruby/", "/usr/share/rubygems-integration/all/gems/")
_SKIP_PARTS = SKIP_DIRS | {"spec", "specs", "example", "examples"}


def installed_versions(packages: tuple[str, ...]) -> dict[str, str]:
    """The installed version of each of ``packages`` that dpkg knows as installed."""
    out = subprocess.run(
        ["dpkg-query", "-W", "-f=${Package}\t${Version}\t${db:Status-Abbrev}\n", *packages],
        capture_output=True, text=True, check=False,
    )  # fmt: skip
    found = {}
    for line in out.stdout.splitlines():
        name, version, status = [*line.split("\t"), "", ""][:3]
        if status.startswith("ii"):
            found[name] = version
    return found


def debian_ruby(packages: tuple[str, ...] | None = None) -> FileListSource:
    """The library ``.rb`` files of installed Debian packages (DEBIAN_RUBY_PACKAGES if None);
    a one-line error naming the ``apt-get install`` command when some are missing, so the corpus
    is the same everywhere."""
    packages = DEBIAN_RUBY_PACKAGES if packages is None else packages
    if shutil.which("dpkg-query") is None:
        raise FileNotFoundError("ruby-debian needs a Debian system with dpkg-query")
    versions = installed_versions(packages)
    missing = [p for p in packages if p not in versions]
    if missing:
        raise FileNotFoundError(
            f"ruby-debian: {len(missing)} Debian package(s) not installed ({', '.join(missing)}); "
            f"install them: apt-get install -y --no-install-recommends {' '.join(missing)}"
        )
    files: dict[str, str] = {}
    for package in packages:
        listed = subprocess.run(["dpkg-query", "-L", package], capture_output=True, text=True,
                                check=True).stdout.splitlines()  # fmt: skip
        for path in listed:
            root = next((r for r in _LIB_ROOTS if path.startswith(r)), None)
            if root is None or not path.endswith(".rb") or not os.path.isfile(path):
                continue
            rel = path.removeprefix(root).split("/")
            if root.endswith("/gems/"):
                rel = rel[1:]  # the gem's NAME-VERSION folder
            if _SKIP_PARTS.intersection(rel[:-1]):
                continue
            files[f"{package}/{'/'.join(rel)}"] = path
    return FileListSource(tuple(sorted(files.items())), tuple(sorted(versions.items())))


def jdk_src_zip() -> Path:
    """The ``lib/src.zip`` of an installed JDK: $JAVA_HOME, the ``java`` on PATH, /usr/lib/jvm."""
    candidates = []
    if os.environ.get("JAVA_HOME"):
        candidates.append(Path(os.environ["JAVA_HOME"]) / "lib" / "src.zip")
    java = shutil.which("java")
    if java:
        candidates.append(Path(java).resolve().parent.parent / "lib" / "src.zip")
    candidates += [Path(p) for p in sorted(glob.glob("/usr/lib/jvm/*/lib/src.zip"), reverse=True)]
    for c in candidates:
        if c.is_file():  # follows symlinks: a dangling one (no -source package) is skipped
            return c.resolve()
    raise FileNotFoundError(
        "no JDK sources (lib/src.zip) found; install them, e.g. apt-get install openjdk-17-source"
    )


def ruby_stdlib() -> Path:
    """The Ruby standard library's directory, as the installed ``ruby`` reports it."""
    ruby = shutil.which("ruby")
    if ruby:
        out = subprocess.run(
            [ruby, "-e", "print RbConfig::CONFIG['rubylibdir']"],
            capture_output=True, text=True, timeout=60, check=False,
        )  # fmt: skip
        if out.returncode == 0 and Path(out.stdout).is_dir():
            return Path(out.stdout)
    found = sorted(glob.glob("/usr/lib/ruby/[0-9]*.[0-9]*"))
    if found:
        return Path(found[-1])
    raise FileNotFoundError(
        "no Ruby standard library found; install Ruby, e.g. apt-get install ruby"
    )


def python_stdlib() -> Path:
    return Path(sysconfig.get_paths()["stdlib"])


def named(spec: str, lang: str) -> Source:
    """A source from a name: ``jdk``, ``python-stdlib``, ``ruby-stdlib``, ``ruby-debian``, a .zip
    or a directory."""
    suffix = SUFFIX[lang]
    if spec == "jdk":
        return ZipSource(jdk_src_zip(), suffix)
    if spec == "python-stdlib":
        return DirSource(python_stdlib(), suffix)
    if spec == "ruby-stdlib":
        return DirSource(ruby_stdlib(), suffix)
    if spec == "ruby-debian":
        return debian_ruby()
    path = Path(spec.removeprefix("dir:")).expanduser()
    if path.is_file() and zipfile.is_zipfile(path):
        return ZipSource(path, suffix)
    if path.is_dir():
        return DirSource(path, suffix)
    if not path.exists():
        raise FileNotFoundError(f"{spec}: no such folder or zip archive")
    raise _input_error(f"{spec}: neither a folder nor a zip archive")


def listing(src: Source) -> tuple[list[str], list[str]]:
    """(file names, one line per part that could not be listed) of any source."""
    return src.listing() if isinstance(src, DirSource | ZipSource) else (src.names(), [])


def _input_error(message: str) -> Exception:
    """The suite's one-line input error (imported here only, as native.formats loads numba)."""
    from native.formats import FormatError

    return FormatError(message)


def is_file(path: Path) -> bool:
    """A regular file (or a link to one); one that cannot even be looked at counts, so that
    reading it fails and is reported rather than it silently missing."""
    try:
        return path.is_file()
    except OSError:
        return True


def _reason(e: BaseException) -> str:
    return " ".join(str(e).split()) or type(e).__name__


def default(lang: str) -> Source:
    """The offline corpus of a language: the JDK sources, the Python or Ruby stdlib."""
    return named({"java": "jdk", "python": "python-stdlib", "ruby": "ruby-stdlib"}[lang], lang)
