"""Clinician views already drawn, kept in memory under the revisions they were drawn from.

A timeline page, a block's summary or its chart is a function of rows the database versions
for us: every block carries a `revision` that triggers bump on any change to the block or to
its reports, alerts and check-ins (migration 20261202_0012). A view is cached under the
revisions it read, so once anything it shows changes, the next request reads a new revision,
misses, and draws the view again: no view is ever served from before a change. (Profiled,
drawing is most of these requests' cost: bench/README.md, "Read path".)

Rules for a caller:
- Check access first (load the patient or block as the caller), then look up: a cached body
  is only ever handed to someone the database just said may see it, and the access check
  writes the audit event as an uncached request does.
- Read the revisions before the data they key: at READ COMMITTED each statement sees its own
  snapshot, so a body is then at least as new as its key, never older.
- A view of several blocks (a patient's, a search's) keeps what it drew only if its key
  still holds once drawn (read it again; procedures/service.py `cached_patient_view` does
  this for a patient's views). A block that joined while the body was drawn would
  otherwise be kept under a key that comes back when the block leaves again (hand-run SQL
  moving it): one revision only grows, but a set of blocks can return to an earlier one. (A
  block moved in and out again within one draw would still slip through; the app itself
  never moves or deletes a block.)
- Put into the key everything else the view depends on (query parameters, the caller's
  clinic, the clinic's rule set); a view that depends on the clock says until when it holds
  (`expires_at`). A search, which has no access check of its own, keeps the patients its page
  shows (`patients`) to note them for the audit on a hit.

Each process keeps its own cache; several instances stay correct because the key comes from
the database. Bounded in bytes, least recently used out first. Emptied when a pooled
connection turns out dead (core/db.py, `connection_lost`): after a restore or a failover to a
lagging copy, revision numbers can come round again with other data behind them.
"""

import uuid
from collections import OrderedDict
from collections.abc import Hashable
from dataclasses import dataclass
from datetime import datetime

from pydantic import BaseModel


@dataclass(frozen=True, slots=True)
class View:
    body: bytes
    patients: tuple[uuid.UUID, ...] = ()
    expires_at: datetime | None = None

    @property
    def size(self) -> int:
        """Bytes it holds, roughly: the body, and the entry and its key (a search's key
        holds its URL and a revision per block) taken as a flat 1 KiB."""
        return len(self.body) + 1024


class ViewCache:
    def __init__(self, max_bytes: int) -> None:
        self.max_bytes = max_bytes
        self._entries: OrderedDict[Hashable, View] = OrderedDict()
        self._bytes = 0

    def get(self, key: Hashable, now: datetime) -> View | None:
        view = self._entries.get(key)
        if view is None:
            return None
        if view.expires_at is not None and now >= view.expires_at:
            self._drop(key)
            return None
        self._entries.move_to_end(key)
        return view

    def put(self, key: Hashable, view: View) -> None:
        # One view may take at most an eighth of the budget, so a few huge ones cannot
        # keep pushing out everything else.
        if view.size * 8 > self.max_bytes:
            return
        self._drop(key)
        self._entries[key] = view
        self._bytes += view.size
        while self._bytes > self.max_bytes:
            self._drop(next(iter(self._entries)))

    def _drop(self, key: Hashable) -> None:
        view = self._entries.pop(key, None)
        if view is not None:
            self._bytes -= view.size

    def clear(self) -> None:
        self._entries.clear()
        self._bytes = 0

    def __len__(self) -> int:
        return len(self._entries)


def json_body(model: BaseModel) -> bytes:
    """The model as FastAPI would send it for a route whose response_model is its class
    (by alias, nothing excluded): what a router returns, cached or not, byte for byte."""
    return model.__pydantic_serializer__.to_json(model, by_alias=True)
