"""Folders on any filesystem Spark reads (``hdfs://``, ``s3a://``, ``abfss://``, ``gs://``, ``file://``), for the
Spark engine's input and report folders.

A location with a scheme becomes a :class:`HadoopPath`: the part of :class:`pathlib.Path` the engine uses (``/``,
``name``, ``suffix``, ``stem``, ``exists``, ``is_dir``, ``is_file``, ``iterdir``, ``open`` for reading text,
``read_text``, ``write_text``, ``write_bytes``, ``mkdir``, ``stat().st_size``, ``with_suffix``), answered by
Hadoop's ``FileSystem`` in the driver's JVM, so the same file finding, header reading, ``graphrisk.toml`` and
report writing serve every store the cluster is configured for (credentials stay in Hadoop's configuration).
A plain path stays a :class:`pathlib.Path`: local runs never touch the JVM for it.

>>> location("data/portfolio", spark=None)
PosixPath('data/portfolio')
>>> has_scheme("hdfs://nn:8020/risk/portfolio"), has_scheme("C:/data"), has_scheme("/data")
(True, False, False)
"""

from __future__ import annotations

import io
import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import IO, TYPE_CHECKING, Any

if TYPE_CHECKING:
    from pyspark.sql import SparkSession

__all__ = ["HadoopPath", "Location", "has_scheme", "location"]

# A URI scheme of two or more letters: "C:/data" (a Windows drive) is a local path.
_SCHEME = re.compile(r"^[A-Za-z][A-Za-z0-9+.\-]+://")
# The header line is read from the first bytes only: a header longer than this is no table graphrisk reads.
_HEAD_BYTES = 1 << 20


def has_scheme(text: str) -> bool:
    """True for ``scheme://…`` locations (Hadoop filesystems), False for local paths."""
    return bool(_SCHEME.match(text))


def location(text: str | Path | HadoopPath, spark: SparkSession | None) -> Location:
    """``text`` as a local :class:`~pathlib.Path`, or as a :class:`HadoopPath` when it has a scheme."""
    if isinstance(text, Path | HadoopPath) or not has_scheme(str(text)):
        return text if isinstance(text, Path | HadoopPath) else Path(text)
    if spark is None:
        raise ValueError(f"{text}: a filesystem URI needs a Spark session")
    return HadoopPath(str(text).rstrip("/"), spark)


@dataclass(frozen=True)
class _Stat:
    st_size: int


class HadoopPath:
    """A file or folder on a Hadoop filesystem, reached through the driver's JVM (see the module docstring)."""

    def __init__(self, uri: str, spark: SparkSession) -> None:
        self._uri = uri
        self._spark = spark

    # -- naming
    def __str__(self) -> str:
        return self._uri

    def __repr__(self) -> str:
        return f"HadoopPath({self._uri!r})"

    def __eq__(self, other: object) -> bool:
        return isinstance(other, HadoopPath) and other._uri == self._uri

    def __hash__(self) -> int:
        return hash(self._uri)

    def __lt__(self, other: HadoopPath) -> bool:
        return self._uri < other._uri

    def __truediv__(self, name: str) -> HadoopPath:
        return HadoopPath(f"{self._uri}/{name}", self._spark)

    @property
    def name(self) -> str:
        return PurePosixPath(self._uri.split("://", 1)[1]).name

    @property
    def suffix(self) -> str:
        return PurePosixPath(self.name).suffix

    @property
    def stem(self) -> str:
        return PurePosixPath(self.name).stem

    @property
    def parent(self) -> HadoopPath:
        return HadoopPath(self._uri.rsplit("/", 1)[0], self._spark)

    def with_suffix(self, suffix: str) -> HadoopPath:
        return self.parent / (self.stem + suffix)

    # -- the JVM side
    def _jvm_path(self) -> Any:
        return self._spark.sparkContext._jvm.org.apache.hadoop.fs.Path(self._uri)  # type: ignore[union-attr]

    def _fs(self) -> Any:
        conf = self._spark.sparkContext._jsc.hadoopConfiguration()  # type: ignore[union-attr]
        return self._jvm_path().getFileSystem(conf)

    def exists(self) -> bool:
        return bool(self._fs().exists(self._jvm_path()))

    def is_dir(self) -> bool:
        return self.exists() and bool(self._fs().getFileStatus(self._jvm_path()).isDirectory())

    def is_file(self) -> bool:
        return self.exists() and bool(self._fs().getFileStatus(self._jvm_path()).isFile())

    def stat(self) -> _Stat:
        return _Stat(int(self._fs().getFileStatus(self._jvm_path()).getLen()))

    def iterdir(self) -> Iterator[HadoopPath]:
        for status in self._fs().listStatus(self._jvm_path()):
            yield self / str(status.getPath().getName())

    def mkdir(self, parents: bool = False, exist_ok: bool = False) -> None:
        if self.exists() and not exist_ok:
            raise FileExistsError(self._uri)
        self._fs().mkdirs(self._jvm_path())

    def read_bytes(self, limit: int | None = None) -> bytes:
        """The file's bytes (the first ``limit`` only, when given): Java's ``readNBytes``/``readAllBytes`` return a
        ``byte[]``, which py4j hands over as one Python ``bytes``."""
        stream = self._fs().open(self._jvm_path())
        try:
            data = stream.readAllBytes() if limit is None else stream.readNBytes(limit)
        finally:
            stream.close()
        return bytes(data)

    def read_text(self, encoding: str = "utf-8") -> str:
        return self.read_bytes().decode(encoding)

    def open(
        self, mode: str = "r", encoding: str | None = None, errors: str | None = None, newline: str | None = None
    ) -> IO[str]:
        """Text reading of the file's head (enough for header lines; whole files go through Spark's readers)."""
        if mode != "r":
            raise ValueError(f"{self._uri}: only reading is supported, not mode {mode!r}")
        head = self.read_bytes(_HEAD_BYTES)
        return io.TextIOWrapper(io.BytesIO(head), encoding=encoding or "utf-8", errors=errors, newline=newline)

    def write_bytes(self, data: bytes) -> int:
        fs = self._fs()
        fs.setWriteChecksum(False)  # no .crc files beside the report on file:// (a no-op where there are none)
        stream = fs.create(self._jvm_path(), True)  # overwrite: a rerun replaces its report
        try:
            step = 8 << 20  # py4j turns a bytearray into one byte[]: a few calls even for a large file
            for start in range(0, len(data), step):
                stream.write(bytearray(data[start : start + step]))
        finally:
            stream.close()
        return len(data)

    def write_text(self, text: str, encoding: str = "utf-8") -> int:
        return self.write_bytes(text.encode(encoding))


# Where the Spark engine reads and writes: a local folder or a folder on a Hadoop filesystem.
Location = Path | HadoopPath
