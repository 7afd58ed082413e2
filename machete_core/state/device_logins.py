"""Device logins (``machete login --device``): the rows behind RFC 8628-style approval."""

from __future__ import annotations

from typing import Any

from sqlalchemy import delete, select

from machete_core.state.base import StoreBase
from machete_core.state.models import DeviceLoginRow
from machete_core.state.people_views import DeviceLoginRecord
from machete_core.state.views import view_of


class DeviceLoginStore(StoreBase):
    def add_device_login(self, **values: Any) -> DeviceLoginRecord:
        with self._tx() as s:
            # Expired requests go as new ones come: the table never grows unbounded.
            s.execute(
                delete(DeviceLoginRow).where(DeviceLoginRow.expires_at < values["created_at"])
            )
            row = DeviceLoginRow(**values)
            s.add(row)
            s.flush()
            return view_of(DeviceLoginRecord, row)

    def device_login_by_code(self, user_code: str) -> DeviceLoginRecord | None:
        with self._tx() as s:
            row = s.scalar(select(DeviceLoginRow).where(DeviceLoginRow.user_code == user_code))
            return None if row is None else view_of(DeviceLoginRecord, row)

    def device_login_by_hash(self, device_hash: str) -> DeviceLoginRecord | None:
        with self._tx() as s:
            row = s.scalar(select(DeviceLoginRow).where(DeviceLoginRow.device_hash == device_hash))
            return None if row is None else view_of(DeviceLoginRecord, row)

    def move_device_login(self, login_id: int, from_state: str, **values: Any) -> bool:
        """Change a login only if it is still in ``from_state`` (two servers, one answer)."""
        with self._tx() as s:
            row = s.get(DeviceLoginRow, login_id, with_for_update=True)
            if row is None or row.state != from_state:
                return False
            for key, value in values.items():
                setattr(row, key, value)
            return True
