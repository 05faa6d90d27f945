"""A big commit's added features encoded in a second process while this one writes.

A streamed commit (twin.core) hands its store the adds a slice at a time; the store inserts a
slice while the next one is made. Made on a thread, the two took turns: both hold the GIL for
most of their work (measured: 2.12 s → 2.08 s for 100,000 polygons). Made in a forked process,
the encoding runs on the other core. The child inherits the changes (fork copies nothing until
written), encodes each slice with the encoder the commit hands down (encode_changes, as
in-process, so the bytes, the digests and the commit id are the same either way) and sends back
only columns of bytes and text, which pickle at memory speed; the objects are put together here.

Anything wrong on the way (the child killed, a slice it could not encode) and the rest is encoded
here: the in-process path raises the real error, if there is one. The child ignores Ctrl-C and
takes SIGTERM's default, so a stop is this process's alone (the parent kills the child on the way
out), and it never touches the store: it leaves by os._exit, as multiprocessing's children do.
"""

from __future__ import annotations

import multiprocessing
import os
import signal
import sys
from collections.abc import Callable, Generator, Sequence
from multiprocessing.connection import Connection
from multiprocessing.process import BaseProcess
from typing import Any

from twin.encoding import version_digest
from twin.model import Change, EncodedFeature

SLICE_TIMEOUT = 120.0  # seconds the parent waits for a slice before it encodes the rest itself
Encoder = Callable[[Sequence[Change]], "list[EncodedFeature | None]"]  # twin.encoding.encode_changes


def _worth_a_process(n: int, slice_size: int) -> bool:
    from twin.settings import settings

    return (
        settings().encode_worker
        and n > slice_size  # one slice: nothing to overlap with
        # Linux: fork is safe here (macOS's system libraries are not fork-safe; Windows has none)
        and sys.platform == "linux"
        and len(os.sched_getaffinity(0)) > 1
        and not multiprocessing.current_process().daemon  # a daemonic process may not start children
    )


def encoded_slices(
    adds: Sequence[Change], slice_size: int, encode: Encoder
) -> Generator[tuple[list[EncodedFeature], list[str]], None, None]:
    """The adds (each with a feature) encoded by `encode`, `slice_size` at a time, in order: each
    slice's versions and the SHA-256 digests of their bytes (what the commit id is made of)."""
    start = 0
    if _worth_a_process(len(adds), slice_size):
        ctx = multiprocessing.get_context("fork")
        receiving, sending = ctx.Pipe(duplex=False)
        child: BaseProcess | None = None
        try:
            child = ctx.Process(
                target=_encode_in_child, args=(adds, slice_size, encode, sending, receiving, os.getpid()), daemon=True
            )
            child.start()
        except OSError:  # no process to be had (a limit on processes or memory): all encoded here
            child = None
        sending.close()  # the child's end: EOF here once the child is gone
        try:
            while start < len(adds) and child is not None:
                # A slice takes the child tens of milliseconds; one that takes minutes is a child stuck
                # (on a lock another thread of the parent held when it forked): encoded here instead.
                if not receiving.poll(SLICE_TIMEOUT):
                    break
                try:
                    columns = receiving.recv()
                except (EOFError, OSError):
                    break
                if columns is None:  # the child could not encode this slice: encoded here below
                    break
                part = adds[start : start + slice_size]
                yield _versions(part, columns), columns[4]
                start += len(part)
        finally:
            receiving.close()
            if child is not None:
                if child.is_alive():
                    child.kill()
                child.join()
    for i in range(start, len(adds), slice_size):
        encoded: list[EncodedFeature] = encode(adds[i : i + slice_size])  # type: ignore[assignment]
        yield encoded, _digests(encoded)


def _digests(encoded: Sequence[EncodedFeature]) -> list[str]:
    return [version_digest(e.geojson) for e in encoded]


def _versions(part: Sequence[Change], columns: tuple[list[Any], ...]) -> list[EncodedFeature]:
    texts, wkbs, boxes, props_json, _ = columns
    # The properties are the changes' own dicts, as encode_changes takes them.
    props = [ch.feature.properties for ch in part]  # type: ignore[union-attr]
    layers = [ch.layer for ch in part]
    fids = [ch.feature_id for ch in part]
    return list(map(EncodedFeature, layers, fids, texts, wkbs, boxes, props, props_json))


def _encode_in_child(
    adds: Sequence[Change], slice_size: int, encode: Encoder, sending: Connection, receiving: Connection, parent: int
) -> None:
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    # The child dies with its parent, however the parent ends (SIGKILL, the OOM killer): it holds
    # copies of the parent's descriptors (a PostGIS connection mid-transaction, a server's
    # listening socket, the command's stdout), which would keep the transaction's locks, the port
    # and a caller's pipe alive. Linux's prctl does it; the standard library has no call for it.
    # (It fires when the forking thread ends: that thread waits in encoded_slices until the child
    # is done or killed, so the two end together.)
    _die_with_parent()
    if os.getppid() != parent:  # the parent was gone before the line above
        os._exit(0)
    # Without the read end here too, a dead parent's pipe has a reader left and send() blocks forever.
    receiving.close()
    try:
        for i in range(0, len(adds), slice_size):
            part = adds[i : i + slice_size]
            try:
                encoded: list[EncodedFeature] = encode(part)  # type: ignore[assignment]
                columns = (
                    [e.geojson for e in encoded],
                    [e.wkb for e in encoded],
                    [e.bbox for e in encoded],
                    [e.properties_json for e in encoded],
                    _digests(encoded),
                )
            except Exception:  # noqa: BLE001 - the parent encodes it again and raises what it raises
                sending.send(None)
                return
            sending.send(columns)
    except (BrokenPipeError, OSError):  # the parent stopped reading (it failed, or was stopped)
        return
    finally:
        sending.close()


_PR_SET_PDEATHSIG = 1  # linux/prctl.h


def _die_with_parent() -> None:
    import ctypes

    try:
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(_PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
    except (OSError, AttributeError):  # no prctl: the pipe's EOF still ends the child once it sends
        pass
