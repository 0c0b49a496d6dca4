"""Egress policy of the data sources: the kit's (``lookout_kit.egress``), its refusals raised as the
connectors' errors (``egress_refused``, ``unreachable``) so that every connector failure is a
``ConnectorError``. Checked after DNS resolution, on every connect: the connectors resolve the
host here and connect to the checked address, never to the name again."""

from __future__ import annotations

from lookout_kit import egress
from lookout_kit.egress import EgressSettings as EgressSettings
from lookout_kit.egress import PlatformServer as PlatformServer

from lookout_datasource.service.connectors.base import EgressRefused, Unreachable


class EgressPolicy(egress.EgressPolicy):
    def refused(self, message: str) -> Exception:
        return EgressRefused(message)

    def unresolvable(self, message: str) -> Exception:
        return Unreachable(message)
