"""The aggregate cache of a service (issue 15): loading an aggregate reads only what was stored
after the version it holds.

Without it, every command read the aggregate's latest snapshot and every event after it (a case
is snapshotted every 50 events: up to 49 decoded per command). eventsourcing's Repository has a
cache with fast-forward; this one keeps its guarantees and drops its one hazard:

- **Another replica's writes are seen.** A load reads the events after the cached version, one
  select on an index, and applies them (`fast-forward`): whatever any process committed is there.
  A write not committed yet is not: a save on the cached version then loses the race on the
  unique (aggregate, version) index like any stale save, and is re-run or refused as before.
- **A cached aggregate is never changed in place.** The library fast-forwards the cached object
  itself and deep-copies it for the caller outside the lock: a copy taken while another thread
  fast-forwards could see half an event applied. Here a fast-forward applies the new events to
  a copy and caches that; the caller always gets a copy of its own to run a command on.
- **Only what is stored is cached.** After a save commits, the saved aggregates (copied) replace
  older cached versions; a save that fails (a lost race, any error) evicts them, so the next load
  reads the store again.
- **Erasure.** An aggregate holds sealed values, never plaintext: opening one asks the sealer,
  whose key cache drops a forgotten subject's key in every replica (privacy/sealing.py). The
  erasure event itself reaches a cached aggregate by fast-forward like any other event.
- **Snapshots** are read only when an aggregate is not cached; taking them is unchanged.
- **Trusted loads** (`trusted`): a command whose save is checked by the store anyway may run on
  the cached aggregate without reading what came after it (store/creating.py says when): a save on
  an outdated version fails on the unique index like a lost race, and is re-run on the aggregate
  read again. Only the first aggregate the load gets is taken so, and only if it is the one the
  load returns (the one saved); any other load reads the store as above.

Bounded (LRU, `AGGREGATE_CACHE_MAXSIZE` in the application's environment, default
`CACHE_SIZE`): memory stays flat however many aggregates a service has.
"""

from __future__ import annotations

import contextlib
import copy
import threading
from collections.abc import Callable, Iterable, Iterator
from copy import deepcopy
from datetime import date, datetime
from typing import Any
from uuid import UUID

from eventsourcing.application import AggregateNotFoundError, Repository, project_aggregate

CACHE_SIZE = 1000

# Every load and every save copies an aggregate, and aggregates are mostly ids and dates (a course's
# attendees, a case's referrals). copy.deepcopy takes UUID, date and datetime apart and builds them
# again through __reduce_ex__, as if they could change; they cannot (immutable, like str and int,
# which it returns as they are). Returned as they are, a course of 1,000 attendees copies in 0.4 ms
# instead of 10 (issue 15: the registry's attendance copied its course three times). Exact types
# only: deepcopy looks its table up by type(x), so a subclass is copied as before.
for _immutable in (UUID, date, datetime):
    copy._deepcopy_dispatch[_immutable] = copy._deepcopy_atomic  # type: ignore[attr-defined]


def copied(aggregate: Any) -> Any:
    """deepcopy(aggregate), the same copy made faster for an ordinary object (the attributes of its
    __dict__, nothing of its own in how it is copied or pickled): a new object of its class given
    each attribute deep-copied, where deepcopy goes through __reduce_ex__, a copy of the __dict__ and a
    call per attribute, most of them ids, dates, strings and numbers, returned as they are (issue 15:
    an import's 50 cases were copied twice each, 7% of its time). Anything else: deepcopy."""
    kind: Any = type(aggregate)
    plain = _plain_kinds.get(kind)
    if plain is None:
        plain = _plain_kinds[kind] = _copied_plainly(kind)
    if not plain:
        return deepcopy(aggregate)
    new = kind.__new__(kind)
    memo: dict[int, Any] = {id(aggregate): new}
    dispatch, atomic = _DISPATCH, copy._deepcopy_atomic  # type: ignore[attr-defined]
    new.__dict__.update({k: v if dispatch.get(type(v)) is atomic else deepcopy(v, memo)
                         for k, v in aggregate.__dict__.items()})
    return new


_DISPATCH: dict[type, Any] = copy._deepcopy_dispatch  # type: ignore[attr-defined]
_plain_kinds: dict[type, bool] = {}


def _copied_plainly(kind: type) -> bool:
    """Whether deepcopy copies an object of this class as `copied` does: by object.__reduce_ex__,
    which makes `kind.__new__(kind)` and sets the __dict__ deep-copied (no slot to copy)."""
    import copyreg

    return (kind not in _DISPATCH and kind not in copyreg.dispatch_table and not issubclass(kind, type)
            and getattr(kind, "__deepcopy__", None) is None
            and kind.__reduce_ex__ is object.__reduce_ex__ and kind.__reduce__ is object.__reduce__
            and getattr(kind, "__getstate__", None) is object.__getstate__
            and not any(hasattr(kind, name) for name in ("__setstate__", "__getnewargs_ex__", "__getnewargs__"))
            and not any(c.__dict__.get("__slots__") for c in kind.__mro__)
            and "__dict__" in dir(kind))


class Trust:
    """One trusted load in progress on this thread: the id of the aggregate it took from the cache
    unread (None: none yet, or it was not cached); `open` until its first get."""

    def __init__(self) -> None:
        self.open = True
        self.id: Any = None


class CachingRepository(Repository):
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._trusts = threading.local()  # this repository's trusted load on each thread
        self._held = threading.local()  # the saves of a transaction of the caller's on each thread (holding)

    def trusted(self, load: Callable[[], Any]) -> tuple[Any, bool]:
        """`load()`, its first get answered from the cache without a read when the aggregate is
        cached; and whether the aggregate it returns was answered so (it may be outdated: only a
        save, which fails on the unique index if it is, proves it was not)."""
        trust = self._trusts.trust = Trust()
        try:
            aggregate = load()
        finally:
            self._trusts.trust = None
        if trust.id is None:
            return aggregate, False
        if trust.id != getattr(aggregate, "id", None):  # taken unread, but not the aggregate saved
            return load(), False
        return aggregate, True

    def get(self, aggregate_id: Any, *, version: int | None = None, projector_func: Any = project_aggregate,
            fastforward_skipping: bool = False, deepcopy_from_cache: bool = True) -> Any:
        trust: Trust | None = getattr(self._trusts, "trust", None)
        if trust is not None and trust.open:
            trust.open = False
            if self.cache is not None and version is None:
                with contextlib.suppress(KeyError):
                    cached = self.cache.get(aggregate_id)
                    trust.id = aggregate_id
                    return copied(cached)  # never changed once cached
        if self.cache is None or version is not None:
            return super().get(aggregate_id, version=version, projector_func=projector_func)
        lock = self._use_fastforward_lock(aggregate_id)
        try:
            with lock:
                current = self._current(aggregate_id, projector_func)
        finally:
            self._disuse_fastforward_lock(aggregate_id)
        return copied(current)  # never changed once cached: copied outside the lock

    def _current(self, aggregate_id: UUID, projector_func: Any) -> Any:
        assert self.cache is not None
        try:
            cached = self.cache.get(aggregate_id)
        except KeyError:
            current = self._reconstruct_aggregate(aggregate_id, None, projector_func)
        else:
            new = list(self.event_store.get(originator_id=aggregate_id, gt=cached.version))
            if not new:
                return cached
            current = projector_func(copied(cached), new)
            if current is None:
                self.evict(aggregate_id)
                raise AggregateNotFoundError(aggregate_id)
        self.cache.put(aggregate_id, current)
        return current

    @contextlib.contextmanager
    def holding(self) -> Iterator[None]:
        """Inside, this thread's saves write in a transaction that commits at the end (a locked
        attempt: store/commuting.py): the aggregates they saved are cached once it committed, and
        evicted if it did not. Cached when each save returned, a rolled-back one's would be served
        at a version the store never had."""
        held: list[Any] = []
        self._held.saves = held
        try:
            yield
        except BaseException:
            for aggregate in held:
                self.evict(aggregate.id)
            raise
        finally:
            self._held.saves = None
        self.saved(held)

    def saved(self, aggregates: Iterable[Any]) -> None:
        """The aggregates of a save that committed: cached (copied) unless a newer version is."""
        if self.cache is None:
            return
        if (held := getattr(self._held, "saves", None)) is not None:  # not committed yet (holding)
            held.extend(aggregates)
            return
        for aggregate in aggregates:
            lock = self._use_fastforward_lock(aggregate.id)
            try:
                with lock:
                    try:
                        cached = self.cache.get(aggregate.id)
                    except KeyError:
                        cached = None
                    if cached is None or cached.version < aggregate.version:
                        self.cache.put(aggregate.id, copied(aggregate))
            finally:
                self._disuse_fastforward_lock(aggregate.id)

    def evict(self, aggregate_id: Any) -> None:
        if self.cache is None:
            return
        with contextlib.suppress(KeyError):
            self.cache.get(aggregate_id, evict=True)



def get_many(repository: CachingRepository, aggregate_ids: Iterable[UUID],
             projector_func: Any = project_aggregate) -> dict[UUID, Any]:
    """Many aggregates at once (a bulk import's cases), each as `get` gives it; those not found are
    left out. The snapshots of those not cached are read in one statement, then the events after
    each one's cached (or snapshot) version in one more (in the library's transaction when one is
    open: a write-locked attempt's, store/commuting.py): another replica's writes are seen, as by
    `get`, and the cache is left as `get` leaves it (copies, never changed in place)."""
    ids = list(dict.fromkeys(aggregate_ids))
    snapshots = repository.snapshot_store
    core = getattr(repository.event_store.recorder, "core", None)
    snapshot_core = getattr(snapshots.recorder, "core", None) if snapshots is not None else None
    if (repository.cache is None or not ids or core is None or not core.usable()
            or (snapshots is not None and (snapshot_core is None or not snapshot_core.usable()))):
        return _one_by_one(repository, ids, projector_func)
    cached: dict[UUID, Any] = {}
    for aggregate_id in ids:
        with contextlib.suppress(KeyError):
            cached[aggregate_id] = repository.cache.get(aggregate_id)
    snapshot: dict[UUID, Any] = {}
    if snapshots is not None and snapshot_core is not None and (uncached := [i for i in ids if i not in cached]):
        snapshot = {s.originator_id: snapshots.mapper.to_domain_event(s) for s in snapshot_core.select_latest(uncached)}
    stored = core.select_after({i: cached[i].version if i in cached else
                                snapshot[i].originator_version if i in snapshot else 0 for i in ids})
    found: dict[UUID, Any] = {}
    for aggregate_id in ids:
        events = [repository.event_store.mapper.to_domain_event(e) for e in stored[aggregate_id]]
        if aggregate_id in cached:
            current = projector_func(copied(cached[aggregate_id]), events) if events else cached[aggregate_id]
        else:
            begin = [snapshot[aggregate_id]] if aggregate_id in snapshot else []
            current = projector_func(None, [*begin, *events]) if begin or events else None
        if current is None:
            repository.evict(aggregate_id)
            continue
        if current is not cached.get(aggregate_id):
            repository.saved([current])  # cached (copied) unless a newer version is
        found[aggregate_id] = copied(current)
    return found


def _one_by_one(repository: CachingRepository, ids: list[UUID], projector_func: Any) -> dict[UUID, Any]:
    found = {}
    for aggregate_id in ids:
        with contextlib.suppress(AggregateNotFoundError):
            found[aggregate_id] = repository.get(aggregate_id, projector_func=projector_func)
    return found
