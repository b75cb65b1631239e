"""The registry of vendors: name -> :class:`~bulk_tasks.vendors.base.Vendor`.

Each vendor is one module beside this one (its specs, request building and answer reading);
adding a vendor is adding its module and a line here.
"""

from __future__ import annotations

from .attio import ATTIO
from .base import Vendor
from .lemlist import LEMLIST
from .saleshandy import SALESHANDY

VENDORS: dict[str, Vendor] = {vendor.name: vendor for vendor in (LEMLIST, SALESHANDY, ATTIO)}
