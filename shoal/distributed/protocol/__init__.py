"""The first stage of the distributed runtime: messages <-> frames.

Nothing here does I/O.  See :mod:`shoal.distributed.protocol.serialize` for the
frame layout.
"""

from shoal.distributed.protocol.serialize import (
    INBAND_LIMIT,
    Pickled,
    ProtocolError,
    Serialized,
    deserialize,
    deserialize_tree,
    dumps,
    loads,
    nbytes,
    serialize,
)

__all__ = [
    "INBAND_LIMIT", "Pickled", "ProtocolError", "Serialized", "deserialize",
    "deserialize_tree", "dumps", "loads", "nbytes", "serialize",
]  # fmt: skip
