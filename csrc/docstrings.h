/* The docstrings of mmap_io._core, in one place, grouped by the .c file
 * that implements them (the way CPython's Argument Clinic keeps them in
 * the clinic/ headers).  Every docstring starts with its text signature
 * ("name($self, a, /)\n--\n\n") so inspect.signature() and stubtest see
 * the real parameters, and ends with a short example.  Keeping the text
 * apart lets a reader see a file's code without pages of prose between
 * its functions, and lets the user-facing wording be reviewed at once.
 */
#ifndef MMAPIO_DOCSTRINGS_H
#define MMAPIO_DOCSTRINGS_H

/* ---- errors.c ---------------------------------------------------------- */

PyDoc_STRVAR(mod_out_of_bounds_doc,
"_out_of_bounds($module, offset, length, total, path=None,\n"
"               within='the mapping', /)\n--\n\n"
"Build (not raise) the OutOfBoundsError for a range, with the message\n"
"and the offset/length/total attributes the core's own errors carry.\n\n"
"    >>> _out_of_bounds(10, 5, 12).total\n    12");

PyDoc_STRVAR(mod_int_text_doc,
"_int_text($module, value, /)\n--\n\n"
"str(value) for messages; an int too long to print is described by its\n"
"size instead.\n\n"
"    >>> _int_text(10 ** 5000)\n    '<16610-bit int>'");

/* ---- mapping.c --------------------------------------------------------- */

PyDoc_STRVAR(Mapping_init_doc,
"Mapping(fd, size, access, *, path=None, populate=False, huge_pages=False,\n"
"        shared=False)\n"
"--\n\n"
"Map `size` bytes of the file open as `fd` (-1: anonymous memory).\n"
"`access` is 0 (read-only), 1 (read-write) or 2 (copy-on-write). The\n"
"mapping keeps its own duplicate of `fd`.  With `shared`, the memory is\n"
"shared anonymous memory (read-write): new when `fd` is -1, else the\n"
"memory of another shared anonymous mapping, whose descriptor `fd` is.\n"
"Used by MemoryMappedFile and AnonymousMmap; most code never calls it\n"
"directly.\n\n"
"    >>> fd = os.open('data.bin', os.O_RDWR)\n"
"    >>> m = Mapping(fd, 4096, 1, path='data.bin'); os.close(fd)\n"
"    >>> m.read_bytes(0, 5)\n    b'hello'");

PyDoc_STRVAR(Mapping_close_doc,
"close($self, /)\n--\n\n"
"Close the mapping. Idempotent. Flushes first unless the policy is NEVER\n"
"(and then raises FlushFailedError if that failed, after closing, or if a\n"
"background flush failed unseen).  Never refused: views still alive\n"
"(memoryviews, numpy arrays, atomic views) stay usable and keep the\n"
"memory mapped and the descriptor open until the last of them is\n"
"released; every new operation raises MappingClosedError.\n\n"
"    >>> v = m.as_slice(0, 5); m.close(); m.closed, bytes(v)\n"
"    (True, b'hello')");

PyDoc_STRVAR(Mapping_close_idle_doc,
"_close_idle($self, what, /)\n--\n\n"
"Internal, for unmap(): close() that raises BusyError (naming `what`)\n"
"instead of deferring while views are alive.");

PyDoc_STRVAR(SliceRequest_doc,
"Internal: one as_slice() request, the range its memoryview exports.");

PyDoc_STRVAR(Mapping_is_empty_doc,
"is_empty($self, /)\n--\n\n"
"True when the mapping has length zero.\n\n"
"    >>> m.is_empty()\n    False");

PyDoc_STRVAR(Mapping_fileno_doc,
"fileno($self, /)\n--\n\n"
"The mapping's own file descriptor (a duplicate of the one it was made\n"
"from).\n\n    >>> m.fileno() >= 0\n    True");

PyDoc_STRVAR(Mapping_as_ptr_doc,
"as_ptr($self, /)\n--\n\n"
"Base address of the mapping as an int, for ctypes/FFI. Valid until\n"
"close()/resize()/refresh(); 0 for an empty mapping.\n\n"
"    >>> ctypes.string_at(m.as_ptr(), 4)\n    b'\\x00\\x00\\x00\\x00'");

PyDoc_STRVAR(Mapping_as_mut_ptr_doc,
"as_mut_ptr($self, /)\n--\n\n"
"Writable base address as an int; read-write and copy-on-write only.\n\n"
"    >>> ctypes.memset(m.as_mut_ptr(), 1, 4)");

/* ---- ops.c ------------------------------------------------------------- */

PyDoc_STRVAR(Mapping_as_slice_doc,
"as_slice($self, offset, length, /)\n--\n\n"
"Read-only zero-copy memoryview of [offset, offset+length). Works in\n"
"every mode. While it is alive the mapping cannot be resized or\n"
"refreshed (BusyError), and after close() it keeps the memory mapped.\n\n"
"    >>> bytes(m.as_slice(0, 5))\n    b'hello'");

PyDoc_STRVAR(Mapping_array_view_doc,
"_array_view($self, offset, length, writable, /)\n--\n\n"
"Internal, for as_array(): as_slice(), or as_slice_mut() when `writable`,\n"
"counted as a numpy array in BusyError messages and repr().");

PyDoc_STRVAR(Mapping_as_slice_mut_doc,
"as_slice_mut($self, offset, length, /)\n--\n\n"
"Writable zero-copy memoryview of [offset, offset+length); read-write and\n"
"copy-on-write mappings only. Writes through it bypass the flush-policy\n"
"counters (pending_bytes, ALWAYS, every_bytes, every_writes): call flush(),\n"
"or use every_millis, which flushes while writable views are alive.\n\n"
"    >>> m.as_slice_mut(0, 5)[:] = b'HELLO'");

PyDoc_STRVAR(Mapping_read_bytes_doc,
"read_bytes($self, offset, length, /)\n--\n\n"
"Copy [offset, offset+length) into a new bytes object (owned: it\n"
"survives close()).\n\n"
"    >>> m.read_bytes(0, 5)\n    b'hello'");

PyDoc_STRVAR(Mapping_read_into_doc,
"read_into($self, offset, buf, /)\n--\n\n"
"Copy memoryview(buf).nbytes bytes from `offset` into the writable,\n"
"C-contiguous buffer `buf`; returns the count.\n\n"
"    >>> buf = bytearray(5); m.read_into(0, buf)\n    5");

PyDoc_STRVAR(Mapping_update_region_doc,
"update_region($self, offset, data, /)\n--\n\n"
"Copy the bytes-like `data` into the mapping at `offset` (read-write and\n"
"copy-on-write). Counts toward the flush policy. Atomic with respect to\n"
"read_into/read_bytes/update_region on this mapping.\n\n"
"    >>> m.update_region(0, b'hello')");

/* ---- durability.c ------------------------------------------------------ */

PyDoc_STRVAR(Mapping_flush_doc,
"flush($self, /)\n--\n\n"
"Write every dirty page to the file and wait (msync MS_SYNC). After the\n"
"file was created or resized, also fsync the file (and, once, its parent\n"
"directory) so its size is durable. A no-op on read-only, copy-on-write\n"
"and anonymous mappings. Resets pending_bytes. If a background flush\n"
"(FlushPolicy.every_millis) failed since the last flush(), raises that\n"
"FlushFailedError (after flushing).\n\n"
"    >>> m.update_region(0, b'x'); m.flush(); m.pending_bytes\n    0");

PyDoc_STRVAR(Mapping_flush_range_doc,
"flush_range($self, offset, length, /)\n--\n\n"
"Flush [offset, offset+length), widened outward to whole pages, and wait\n"
"(msync MS_SYNC). pending_bytes drops by the page-aligned length flushed\n"
"(never below 0); writes outside the range stay counted. A zero length\n"
"is a no-op.\n\n"
"    >>> m.update_region(0, b'x'); m.flush_range(0, 1)");

PyDoc_STRVAR(Mapping_start_flush_doc,
"start_flush($self, /, offset=0, length=None)\n--\n\n"
"Start writing the dirty pages of [offset, offset+length) (default: the\n"
"whole mapping) back to the file without waiting: sync_file_range(\n"
"SYNC_FILE_RANGE_WRITE) on Linux, where msync(MS_ASYNC) does nothing,\n"
"msync(MS_ASYNC) elsewhere. Nothing is durable until flush() or\n"
"flush_range() returns, so pending_bytes is unchanged; a later flush()\n"
"then has less to wait for. A no-op on read-only and copy-on-write\n"
"mappings. An extension beyond the seeds' API.\n\n"
"    >>> m.update_region(0, b'x' * 4096); m.start_flush(); m.flush()");

PyDoc_STRVAR(Mapping_flush_background_doc,
"_flush_background($self, /)\n--\n\n"
"Internal, for the every_millis thread: flush if anything may be dirty.\n"
"Returns 1 after a flush, 0 when there was nothing to flush, -1 once the\n"
"mapping is closed (the thread then stops). A failure is kept for the\n"
"next flush() and raised for the thread to log.");

PyDoc_STRVAR(Mapping_sync_on_flush_doc,
"_sync_on_flush($self, directory=None, /)\n--\n\n"
"Internal: the file's size changed (it was created or truncated), so the\n"
"next flush also fsyncs the file, and, given a directory (bytes or str),\n"
"fsyncs that directory once so the new file's name is durable.");

PyDoc_STRVAR(Mapping_resize_doc,
"resize($self, new_size, /)\n--\n\n"
"Grow or shrink the file and the mapping (read-write file mappings only).\n"
"The next flush() also fsyncs the file, so the new size is durable.\n"
"Raises BusyError while exported views are alive, ResizeFailedError for\n"
"a size of 0 or above 128 TiB.  The mapping may move, and advice or\n"
"locks set on it (advise(), lock()) need not survive.\n\n"
"    >>> m.resize(8192); len(m)\n    8192");

PyDoc_STRVAR(Mapping_refresh_doc,
"refresh($self, /)\n--\n\n"
"Re-read the backing file's size and grow or shrink the mapping to it,\n"
"so a reader can follow a file another process appends to or truncates;\n"
"returns the new length (an empty file gives an empty mapping).  Every\n"
"mode; not for anonymous memory (InvalidModeError).  Raises BusyError,\n"
"leaving the mapping intact, while exported views are alive.  Copy-on-\n"
"write mappings keep their private changes.  The mapping may move, and\n"
"advice or locks set on it (advise(), lock()) need not survive.\n\n"
"    >>> m.refresh()\n    8192");

PyDoc_STRVAR(Mapping_set_policy_doc,
"_set_flush_policy($self, kind, n, /)\n--\n\n"
"Internal: 0 NEVER, 1 ALWAYS, 2 every n bytes, 3 every n writes,\n"
"4 every n milliseconds (driven from Python).");

/* ---- atomics.c --------------------------------------------------------- */

PyDoc_STRVAR(Mapping_atomic_u64_doc,
"atomic_u64($self, offset, /)\n--\n\n"
"An AtomicU64 over the 8 bytes at `offset` (a multiple of 8, else\n"
"MisalignedError).  Until it is released the view keeps the memory\n"
"mapped (also after close()) and resize()/refresh() raise BusyError.\n\n"
"    >>> with m.atomic_u64(0) as c:\n"
"    ...     c.fetch_add(1)\n    0");

PyDoc_STRVAR(Mapping_atomic_u32_doc,
"atomic_u32($self, offset, /)\n--\n\n"
"An AtomicU32 over the 4 bytes at `offset` (a multiple of 4, else\n"
"MisalignedError).  The view holds the mapping open until released.\n\n"
"    >>> with m.atomic_u32(4) as c:\n"
"    ...     c.store(7); c.load()\n    7");

PyDoc_STRVAR(Mapping_atomic_u64_slice_doc,
"atomic_u64_slice($self, offset, count, /)\n--\n\n"
"A sequence of `count` AtomicU64 views starting at `offset` (a multiple\n"
"of 8).  Supports len(), indexing (negative too) and iteration; each item\n"
"is its own view.  Holds the mapping open until released.\n\n"
"    >>> with m.atomic_u64_slice(0, 4) as arr:\n"
"    ...     arr[-1].fetch_add(5); [c.load() for c in arr]\n"
"    0\n    [0, 0, 0, 5]");

PyDoc_STRVAR(Mapping_atomic_u32_slice_doc,
"atomic_u32_slice($self, offset, count, /)\n--\n\n"
"A sequence of `count` AtomicU32 views starting at `offset` (a multiple\n"
"of 4).  Holds the mapping open until released.\n\n"
"    >>> len(m.atomic_u32_slice(0, 16))\n    16");

PyDoc_STRVAR(Atomic_load_doc,
"load($self, /)\n--\n\n"
"The current value (a sequentially consistent load).  The only operation\n"
"allowed on a read-only mapping.\n\n"
"    >>> c.load()\n    0");

PyDoc_STRVAR(Atomic_store_doc,
"store($self, value, /)\n--\n\n"
"Set the value (a sequentially consistent store).  `value` must fit the\n"
"type (else OverflowError).\n\n"
"    >>> c.store(5); c.load()\n    5");

PyDoc_STRVAR(Atomic_fetch_add_doc,
"fetch_add($self, value, /)\n--\n\n"
"Add `value` (wrapping modulo 2**64 / 2**32); returns the old value.\n\n"
"    >>> c.store(1); c.fetch_add(2), c.load()\n    (1, 3)");

PyDoc_STRVAR(Atomic_fetch_sub_doc,
"fetch_sub($self, value, /)\n--\n\n"
"Subtract `value` (wrapping); returns the old value.\n\n"
"    >>> c.store(0); c.fetch_sub(1), c.load() == 2**64 - 1\n    (0, True)");

PyDoc_STRVAR(Atomic_fetch_and_doc,
"fetch_and($self, value, /)\n--\n\n"
"Bitwise AND with `value`; returns the old value.\n\n"
"    >>> c.store(0b1100); c.fetch_and(0b1010), c.load()\n    (12, 8)");

PyDoc_STRVAR(Atomic_fetch_or_doc,
"fetch_or($self, value, /)\n--\n\n"
"Bitwise OR with `value`; returns the old value.\n\n"
"    >>> c.store(0b1100); c.fetch_or(0b1010), c.load()\n    (12, 14)");

PyDoc_STRVAR(Atomic_fetch_xor_doc,
"fetch_xor($self, value, /)\n--\n\n"
"Bitwise XOR with `value`; returns the old value.\n\n"
"    >>> c.store(0b1100); c.fetch_xor(0b1010), c.load()\n    (12, 6)");

PyDoc_STRVAR(Atomic_swap_doc,
"swap($self, value, /)\n--\n\n"
"Store `value`; returns the old value.\n\n"
"    >>> c.store(1); c.swap(9), c.load()\n    (1, 9)");

PyDoc_STRVAR(Atomic_compare_exchange_doc,
"compare_exchange($self, expected, new, /)\n--\n\n"
"If the value equals `expected`, store `new`.  Returns\n"
"(succeeded, previous): `previous` is the value found (== expected when\n"
"it succeeded).\n\n"
"    >>> c.store(1); c.compare_exchange(1, 2), c.compare_exchange(1, 3)\n"
"    ((True, 1), (False, 2))");

PyDoc_STRVAR(Atomic_wait_doc,
"wait($self, /, expected, timeout=None)\n--\n\n"
"Sleep while the value equals `expected`, until notify() wakes this\n"
"thread or `timeout` seconds pass (None: no limit).  Returns True at\n"
"once if the value already differs, True when woken, False on timeout.\n"
"May also wake without a notify (like threading.Condition.wait): check\n"
"the value and wait again.  Releases the GIL; works between the threads\n"
"of a process and, on shared memory (read-write file mappings,\n"
"AnonymousMmap(shared=True)), between processes.  Signals interrupt it\n"
"as they do time.sleep: Ctrl-C raises KeyboardInterrupt, other handlers\n"
"run and the wait goes on.  Linux only (NotImplementedError elsewhere).\n\n"
"    >>> flag = m.atomic_u32(0)\n"
"    >>> while flag.load() == 0:      # until another process stores 1\n"
"    ...     flag.wait(0)\n"
"    >>> flag.wait(1, timeout=0.01)   # nobody changes it\n"
"    False");

PyDoc_STRVAR(Atomic_notify_doc,
"notify($self, /, n=1)\n--\n\n"
"Wake up to `n` threads (of any process sharing the memory) sleeping in\n"
"wait() on this word; returns how many were woken.  Change the value\n"
"first, then notify: a waiter that has not started sleeping yet sees the\n"
"new value and does not sleep.  Needs no write access.\n\n"
"    >>> flag.store(1); flag.notify()\n    1");

PyDoc_STRVAR(Atomic_notify_all_doc,
"notify_all($self, /)\n--\n\n"
"Wake every thread sleeping in wait() on this word; returns how many.\n\n"
"    >>> flag.store(2); flag.notify_all()\n    3");

PyDoc_STRVAR(Atomic_release_doc,
"release($self, /)\n--\n\n"
"Give back the view's hold on the memory (resize()/refresh() work again;\n"
"after close(), the last view released unmaps it).\n"
"Idempotent; the view raises MappingClosedError afterwards.\n\n"
"    >>> c.release(); c.released\n    True");

PyDoc_STRVAR(AtomicU64_doc,
"A lock-free, sequentially consistent unsigned 64-bit integer in mapped\n"
"memory (made by Mapping.atomic_u64).  Works across threads and across\n"
"processes that map the same file.  Arithmetic wraps modulo 2**64.\n"
"Two views are equal when they are the same cell (same mapping object,\n"
"same offset); a released view equals only itself.\n\n"
"    >>> with m.atomic_u64(0) as c:\n"
"    ...     c.fetch_add(2); c.load()\n    0\n    2");

PyDoc_STRVAR(AtomicU32_doc,
"A lock-free, sequentially consistent unsigned 32-bit integer in mapped\n"
"memory (made by Mapping.atomic_u32).  Arithmetic wraps modulo 2**32.\n"
"Equality and hashing as for AtomicU64.\n\n"
"    >>> with m.atomic_u32(0) as c:\n"
"    ...     c.fetch_sub(1); c.load()\n    0\n    4294967295");

PyDoc_STRVAR(Slice_release_doc,
"release($self, /)\n--\n\n"
"Give back the slice's hold on the mapping.  Items already taken from it\n"
"are views of their own and stay usable.  Idempotent.\n\n"
"    >>> arr.release(); arr.released\n    True");

PyDoc_STRVAR(Slice_index_doc,
"index($self, value, start=0, stop=sys.maxsize, /)\n--\n\n"
"The position of the view `value` in the slice: the item that is the same\n"
"cell (same mapping, same offset; see AtomicU64.__eq__).  ValueError if\n"
"it is not an item, or lies outside [start, stop).\n\n"
"    >>> arr = m.atomic_u64_slice(0, 4)\n"
"    >>> arr.index(m.atomic_u64(16))\n    2");

PyDoc_STRVAR(Slice_count_doc,
"count($self, value, /)\n--\n\n"
"1 if the view `value` is an item of the slice (the same cell), else 0.\n\n"
"    >>> arr = m.atomic_u64_slice(0, 4)\n"
"    >>> arr.count(arr[1]), arr.count(m.atomic_u64(64))\n    (1, 0)");

PyDoc_STRVAR(AtomicSlice_doc,
"A collections.abc.Sequence of consecutive AtomicU64 or AtomicU32 views\n"
"(made by Mapping.atomic_u64_slice / atomic_u32_slice).  len(), indexing\n"
"with negative indices, contiguous slicing, iteration, reversed(), and\n"
"`in` / index() / count() for views of its cells; each item is a view of\n"
"its own.  Supports `with` and release().\n\n"
"    >>> with m.atomic_u64_slice(0, 3) as arr:\n"
"    ...     for c in arr:\n"
"    ...         c.store(7)\n"
"    ...     arr[-1].load()\n    7");

/* ---- syscalls.c -------------------------------------------------------- */

PyDoc_STRVAR(Mapping_advise_doc,
"_advise($self, offset, length, advice, /)\n--\n\n"
"madvise() on [offset, offset+length) widened to whole pages. `advice` is\n"
"an MmapAdvice value string ('sequential', ...). Use advise() instead.\n\n"
"    >>> m._advise(0, 4096, 'sequential')");

PyDoc_STRVAR(Mapping_prefetch_range_doc,
"prefetch_range($self, offset, length, /)\n--\n\n"
"Ask the kernel to read [offset, offset+length) of the backing file into\n"
"the page cache soon: posix_fadvise(POSIX_FADV_WILLNEED) on the file\n"
"(madvise(MADV_WILLNEED) for anonymous memory). Returns at once; the\n"
"reads happen in the background. A zero length is a no-op. Raises\n"
"AdviceFailedError if the kernel refuses.\n\n"
"    >>> m.prefetch_range(0, 1 << 20)");

PyDoc_STRVAR(Mapping_touch_pages_doc,
"touch_pages($self, /)\n--\n\n"
"Fault every page of the mapping in by reading one byte per page, in one\n"
"native loop (with the GIL released from 64 KiB up). Raises\n"
"FileTruncatedError if the backing file lost pages (truncated by someone\n"
"else).\n\n"
"    >>> m.touch_pages()\n"
"    >>> m.residency().fraction\n    1.0");

PyDoc_STRVAR(Mapping_touch_pages_range_doc,
"touch_pages_range($self, offset, length, /)\n--\n\n"
"touch_pages() for the pages overlapping [offset, offset+length).\n\n"
"    >>> m.touch_pages_range(0, 64 * 1024)");

PyDoc_STRVAR(Mapping_residency_doc,
"_residency($self, offset, length, /)\n--\n\n"
"mincore() of the pages overlapping [offset, offset+length); `length`\n"
"None means to the end. Returns (first_page_offset, page_size, pages,\n"
"resident) where `pages` holds one byte per page, 1 when resident. Use\n"
"residency() instead.\n\n"
"    >>> m._residency(0, None)[3]\n    16");

PyDoc_STRVAR(Mapping_lock_doc,
"lock($self, offset, length, /)\n--\n\n"
"mlock() the pages overlapping [offset, offset+length): fault them in and\n"
"keep them in RAM. Raises LockFailedError (errno ENOMEM or EPERM) past\n"
"RLIMIT_MEMLOCK without CAP_IPC_LOCK. On a copy-on-write mapping locking\n"
"makes private copies of the pages, as the kernel must.\n\n"
"    >>> m.lock(0, 4096); m.unlock(0, 4096)");

PyDoc_STRVAR(Mapping_unlock_doc,
"unlock($self, offset, length, /)\n--\n\n"
"munlock() the pages overlapping [offset, offset+length). Unlocking pages\n"
"that are not locked is fine. Raises UnlockFailedError if the kernel\n"
"refuses.\n\n"
"    >>> m.unlock(0, 4096)");

PyDoc_STRVAR(Mapping_lock_all_doc,
"lock_all($self, /)\n--\n\n"
"lock() the whole mapping (this mapping only, not the process).\n\n"
"    >>> m.lock_all(); m.unlock_all()");

PyDoc_STRVAR(Mapping_unlock_all_doc,
"unlock_all($self, /)\n--\n\n"
"unlock() the whole mapping.\n\n"
"    >>> m.unlock_all()");

/* ---- sized.c ----------------------------------------------------------- */

PyDoc_STRVAR(SizedIter_doc,
"SizedIterator(items, count)\n--\n\n"
"An iterator over `items` whose len() is the number of items still to\n"
"come: `count` at first, one less after each item, 0 once exhausted or\n"
"closed.  chunks(), pages(), chunks_owned() and pages_owned() return one.\n\n"
"    >>> it = m.chunks_owned(4096)          # a 10000-byte mapping\n"
"    >>> len(it)\n    3\n"
"    >>> first = next(it); len(it)\n    2");

PyDoc_STRVAR(SizedIter_close_doc,
"close($self, /)\n--\n\n"
"Stop the iteration now: release the view last handed out (chunks(),\n"
"pages(), chunks_mut()) or close the wrapped iterator; len() becomes 0.\n\n"
"    >>> it = m.chunks(4096); view = next(it); it.close(); len(it)\n    0");

PyDoc_STRVAR(Mapping_chunk_views_doc,
"_chunk_views($self, size, readonly, ahead, /)\n--\n\n"
"A SizedIterator of views of `size` bytes (the last may be shorter),\n"
"read-only unless `readonly` is false; each is released when the next is\n"
"asked for.  `ahead` is None or called with an offset before the view\n"
"there, returning the offset to call it again at (read-ahead).\n\n"
"    >>> [bytes(v) for v in m._chunk_views(4, True, None)]  # b'hello'\n"
"    [b'hell', b'o']");

/* ---- module.c ---------------------------------------------------------- */

PyDoc_STRVAR(page_size_doc,
"page_size()\n--\n\n"
"The system page size in bytes.\n\n    >>> page_size()\n    4096");

PyDoc_STRVAR(os_error_doc,
"os_error(errno, filename=None, context=None)\n--\n\n"
"Build (not raise) the exception for an OS error: an MmapIoError that is\n"
"also the builtin OSError subclass for `errno`.\n\n"
"    >>> isinstance(os_error(2, 'x'), FileNotFoundError)\n    True");

PyDoc_STRVAR(guard_sigbus_doc,
"_guard_sigbus()\n--\n\n"
"Internal: put the SIGBUS guard back in front if a handler was installed\n"
"over it since the first mapping (faulthandler.enable(), signal.signal),\n"
"chaining to that handler.  Returns True when it did.  A no-op before\n"
"the first mapping.\n\n"
"    >>> faulthandler.enable(); _guard_sigbus()\n    True");
#endif
