"""A single-producer single-consumer byte queue between two processes.

The queue lives in shared anonymous memory (``AnonymousMmap(shared=True)``),
which ``multiprocessing`` hands to the child process of any start method.
No locks: one process only ever writes messages, the other only reads them.

Layout of the memory (each counter on its own 64-byte cache line, so the
two sides do not fight over one line):

    offset 0    tail          u64  bytes ever written; only the producer moves it
    offset 64   head          u64  bytes ever read; only the consumer moves it
    offset 128  data_waiter   u32  1 while the consumer sleeps for data
    offset 192  space_waiter  u32  1 while the producer sleeps for space
    offset 196  eof           u32  1 once the producer closed its end
    offset 256  ring          ``capacity`` bytes (a power of two)

A message is a 4-byte little-endian length followed by its bytes, padded to
a multiple of 4 (so a length never straddles the end of the ring; the bytes
may, and are then copied in two pieces). ``tail - head`` is the number of
bytes queued; the position of a byte in the ring is its counter modulo the
capacity.

Sleeping without missing a wake-up, and without a system call per message:
a side that finds nothing to do sets its waiter word to 1, looks at the
other side's counter once more, and only then sleeps with
``waiter.wait(1)``. The other side publishes its counter first and then
looks at the waiter word; if it is 1, it clears it and calls ``notify()``.
All atomic operations are sequentially consistent, so either the sleeper
sees the new counter, or the publisher sees the waiter word: no wake-up is
lost, and while the consumer keeps up nobody makes a futex call at all.
Before sleeping, a side polls briefly (``spin``), which keeps a busy
stream of messages out of the kernel.

Run: python examples/ipc_queue.py
"""

from __future__ import annotations

import multiprocessing as mp
import struct
import time
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING, TypeVar

from mmap_io import AnonymousMmap, AtomicU32

if TYPE_CHECKING:
    from typing_extensions import Buffer

T = TypeVar("T")

TAIL, HEAD, DATA_WAITER, SPACE_WAITER, EOF, RING = 0, 64, 128, 192, 196, 256
_LEN = struct.Struct("<I")


class Empty(Exception):
    """``get(timeout=...)`` found no message in time."""


class Full(Exception):
    """``put(timeout=...)`` found no room in time."""


class SPSCQueue:
    """A bounded byte queue: one process calls :meth:`put`, one calls :meth:`get`.

    Pass the queue to the other process as a ``multiprocessing.Process``
    argument (or through a ``multiprocessing`` queue or pipe).

    >>> q = SPSCQueue(1 << 16)
    >>> q.put(b"hello")
    >>> q.get()
    b'hello'
    """

    def __init__(self, capacity: int = 1 << 20, *, spin: int = 200) -> None:
        if capacity < 64 or capacity & (capacity - 1):
            raise ValueError(f"capacity must be a power of two >= 64, not {capacity}")
        self._attach(AnonymousMmap(RING + capacity, shared=True), spin)

    def _attach(self, mem: AnonymousMmap, spin: int) -> None:
        self._mem = mem
        self.capacity = len(mem) - RING
        self._mask = self.capacity - 1
        self.spin = spin
        self.sleeps = 0  # how often this side had to sleep (for tests and tuning)
        self._write, self._read = mem.update_region, mem.read_bytes
        self._tail = mem.atomic_u64(TAIL)
        self._head = mem.atomic_u64(HEAD)
        self._data_waiter = mem.atomic_u32(DATA_WAITER)
        self._space_waiter = mem.atomic_u32(SPACE_WAITER)
        self._eof = mem.atomic_u32(EOF)
        # Each side keeps its own counter and the last value it saw of the
        # other's, and reads the shared one only when the cached one says
        # "full" or "empty".
        self._tail_local = self._tail_seen = self._tail.load()
        self._head_local = self._head_seen = self._head.load()

    def __reduce__(self) -> tuple[object, ...]:
        return _rebuild, (self._mem, self.spin)

    # -- producer ----------------------------------------------------------

    def put(self, data: Buffer, timeout: float | None = None) -> None:
        """Append one message (bytes-like); waits while the ring is full.

        Raises :class:`Full` if ``timeout`` seconds pass without room.
        """
        n = len(data) if type(data) is bytes else memoryview(data).nbytes
        size = (n + 7) & ~3  # length word + bytes, rounded up to 4
        if size > self.capacity:
            raise ValueError(f"a {n}-byte message does not fit a {self.capacity}-byte ring")
        tail = self._tail_local
        if tail + size - self._head_seen > self.capacity:
            needed = tail + size - self.capacity  # the head must reach this

            def room() -> int | None:
                head = self._head.load()
                return head if head >= needed else None

            self._head_seen = self._wait_until(self._space_waiter, room, timeout, Full)
        record = _LEN.pack(n) + data
        at = tail & self._mask
        first = self.capacity - at
        if n + 4 <= first:
            self._write(RING + at, record)
        else:  # the message wraps around the end of the ring
            self._write(RING + at, record[:first])
            self._write(RING, record[first:])
        self._tail_local = tail + size
        self._tail.store(tail + size)  # publish, then look for a sleeper
        if self._data_waiter.load() and self._data_waiter.swap(0):
            self._data_waiter.notify()

    def close(self) -> None:
        """Producer: no more messages. The consumer's :meth:`get` raises
        ``EOFError`` once it has read everything before this."""
        self._eof.store(1)
        if self._data_waiter.swap(0):
            self._data_waiter.notify()

    # -- consumer ----------------------------------------------------------

    def get(self, timeout: float | None = None) -> bytes:
        """Remove and return the oldest message; waits while there is none.

        Raises :class:`Empty` if ``timeout`` seconds pass without one, and
        ``EOFError`` when the producer closed its end and all is read.
        """
        head = self._head_local
        if head == self._tail_seen:
            self._tail_seen = self._wait_for_data(head, timeout)
        at = (head & self._mask) + 4
        (n,) = _LEN.unpack(self._read(RING + at - 4, 4))
        first = self.capacity - at
        if n <= first:
            data = self._read(RING + at, n)
        else:  # the message wraps around the end of the ring
            data = self._read(RING + at, first) + self._read(RING, n - first)
        head += (n + 7) & ~3
        self._head_local = head
        self._head.store(head)  # free the room, then look for a sleeper
        if self._space_waiter.load() and self._space_waiter.swap(0):
            self._space_waiter.notify()
        return data

    def __iter__(self) -> Iterator[bytes]:
        """Consumer: every message until the producer closes its end."""
        while True:
            try:
                yield self.get()
            except EOFError:
                return

    def _wait_for_data(self, head: int, timeout: float | None) -> int:
        tail, eof = self._tail, self._eof

        def data() -> int | None:
            if (t := tail.load()) != head:
                return t
            if eof.load():
                # The producer publishes its last tail before eof: look again.
                if (t := tail.load()) != head:
                    return t
                raise EOFError("the producer closed the queue")
            return None

        return self._wait_until(self._data_waiter, data, timeout, Empty)

    def _wait_until(
        self,
        waiter: AtomicU32,
        ready: Callable[[], T | None],
        timeout: float | None,
        give_up: type[Exception],
    ) -> T:
        """Poll ``ready()`` until it returns a value, sleeping on ``waiter``.

        The sleeper's half of the protocol in the module docstring: raise
        the waiter word, look once more, sleep while the word stays 1 (the
        other side clears it before notifying).
        """
        for _ in range(self.spin):
            if (value := ready()) is not None:
                return value
        deadline = None if timeout is None else time.monotonic() + timeout
        try:
            while True:
                waiter.store(1)
                if (value := ready()) is not None:
                    return value
                self.sleeps += 1
                if deadline is None:
                    waiter.wait(1)
                elif (left := deadline - time.monotonic()) > 0:
                    waiter.wait(1, left)
                else:
                    raise give_up(f"nothing happened for {timeout} s")
        finally:
            waiter.store(0)

    # -- both --------------------------------------------------------------

    def release(self) -> None:
        """Let go of this process's views of the memory (each side, when done)."""
        for view in (self._tail, self._head, self._data_waiter, self._space_waiter, self._eof):
            view.release()
        self._mem.close()


def _rebuild(mem: AnonymousMmap, spin: int) -> SPSCQueue:
    q = SPSCQueue.__new__(SPSCQueue)
    q._attach(mem, spin)
    return q


# -- demo --------------------------------------------------------------------


def consume(q: SPSCQueue, results: mp.SimpleQueue) -> None:  # type: ignore[type-arg]
    """Read until the producer closes; report the count and a checksum."""
    results.put("ready")
    count = total = 0
    for msg in q:
        count += 1
        total += msg[0]
    results.put((count, total))
    q.release()


def main(n: int = 200_000, size: int = 64) -> None:
    ctx = mp.get_context("spawn")
    q = SPSCQueue(1 << 20)
    results = ctx.SimpleQueue()
    child = ctx.Process(target=consume, args=(q, results))
    child.start()
    messages = [bytes([i % 251]) * size for i in range(256)]
    assert results.get() == "ready"  # time the queue, not the child's start-up
    start = time.perf_counter()
    for i in range(n):
        q.put(messages[i & 255])
    q.close()
    count, total = results.get()
    elapsed = time.perf_counter() - start
    child.join()
    q.release()
    assert count == n and total == sum(messages[i & 255][0] for i in range(n))
    print(f"{n} messages of {size} bytes in {elapsed:.2f} s: {n / elapsed:,.0f} messages/s")


if __name__ == "__main__":
    main()
