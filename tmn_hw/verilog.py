"""Deterministic Verilog of Amaranth components, written whole or not at all."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

from amaranth.back import verilog
from amaranth.hdl import Const, Value, ValueCastable
# NOTE: PortDirection is private in Amaranth 0.5.10; check this import when upgrading Amaranth.
from amaranth.hdl._ir import PortDirection
from amaranth.lib import wiring

__all__ = ["convert", "write_verilog"]


def _ports(component: wiring.Component) -> dict:
    """Return the ports of ``component`` named as Amaranth names them, without constant members.

    ``amaranth.back.verilog.convert`` (Amaranth 0.5.10) derives the ports from
    the signature itself but rejects constant members such as the ``ready`` of
    an ``always_ready`` stream, so this list leaves them out.
    """
    ports = {}
    for path, member, value in component.signature.flatten(component):
        if isinstance(value, ValueCastable):
            value = value.as_value()
        if isinstance(value, Value) and not isinstance(value, Const):
            direction = PortDirection.Input if member.flow == wiring.In else PortDirection.Output
            ports["__".join(map(str, path))] = (value, direction)
    return ports


def convert(component: wiring.Component, name: str) -> str:
    """Return the Verilog of ``component`` as module ``name``, without source locations.

    Leaving out the ``src`` attributes makes the text depend only on the
    design, so equal parameters give byte-identical files.
    """
    return verilog.convert(component, name=name, ports=_ports(component), emit_src=False)


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def write_verilog(component, name: str, path) -> Path:
    """Write the Verilog of ``component`` (module ``name``) to ``path`` and return the path.

    The text goes to a temporary file in the same directory first, which then
    replaces ``path`` in one step, so a reader never sees a partial file.
    """
    path = Path(path)
    text = convert(component, name)
    path.parent.mkdir(parents=True, exist_ok=True)
    handle, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(handle, "w") as file:
            file.write(text)
        # mkstemp creates the file readable by its owner only; give it the usual permissions.
        os.chmod(temporary, 0o666 & ~_umask())
        os.replace(temporary, path)
    except BaseException:
        os.unlink(temporary)
        raise
    return path
