"""Helpers shared by the modules that test against ``tests/devices.db`` (``test_alarm.py``,
``test_device.py``, ``test_devices.py``); no tests here.

* :func:`devices_ioc`: serve ``tests/devices.db`` under a random prefix, each module with its
  own IOC, so that one module's writes never reach another's records;
* :func:`module_ioc`: the same for any database (a path, or the records as a string);
* :func:`db_record`: one record of a database written as a string, under the prefix ``$(P)``.
"""
from __future__ import annotations

import contextlib
from pathlib import Path
from typing import Iterator, Union

from epics.testing import PortPool, SoftIoc, unique_prefix

#: The database of records the device tests use (see the comments in it).
DEVICES_DB = Path(__file__).with_name("devices.db")


@contextlib.contextmanager
def module_ioc(port_pool: PortPool, db: Union[str, Path], tag: str) -> Iterator[str]:
    """Serve ``db`` under a random prefix starting with ``tag`` (macro ``P``), on a port taken
    from ``port_pool`` (given back afterwards, also on failure); yields the prefix."""
    prefix = unique_prefix(tag)
    port = port_pool.take()
    try:
        with SoftIoc(db, macros={"P": prefix}, port=port,
                     repeater_port=port_pool.repeater_port):
            yield prefix
    finally:
        port_pool.release(port)


def devices_ioc(port_pool: PortPool, tag: str):
    """Serve tests/devices.db under a random prefix starting with ``tag`` (see module_ioc)."""
    return module_ioc(port_pool, DEVICES_DB, tag)


def db_record(kind: str, name: str, **fields: object) -> str:
    """``db_record('ao', 'x', PREC=3)`` -> the text of record ``$(P)x`` of type ao."""
    body = "".join(f'    field({key}, "{value}")\n' for key, value in fields.items())
    return f'record({kind}, "$(P){name}") {{\n{body}}}\n'
