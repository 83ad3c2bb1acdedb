"""Messages to frames and back: msgpack envelopes, pickled payloads as raw frames.

A *message* is plain data (dicts, lists, tuples, sets, str, bytes, numbers,
bool, None) that may hold two markers:

- ``Pickled(obj)`` asks the sender to pickle ``obj`` (cloudpickle, protocol 5);
- ``Serialized(header, frames)`` is an already pickled payload.  Receivers get
  every payload in this form unless they ask for ``deserialize=True``, and
  sending a ``Serialized`` again forwards its frames untouched, so a scheduler
  routes payloads between clients and workers without ever unpickling them.

``dumps(msg)`` returns a list of frames::

    frames[0]    msgpack of the message.  Each marker becomes an ext value
                 EXT_SERIALIZED -> msgpack [header, first, count]: "my frames
                 are payload[first:first+count]".  Tuples and sets are ext
                 values too, so tuple keys come back as tuples.
    frames[1:]   the payload frames, marker after marker in message order:
                 the pickle stream, then its out-of-band buffers.

Out-of-band buffers (``pickle.PickleBuffer``, which NumPy arrays provide) of at
least ``INBAND_LIMIT`` bytes become frames of their own *without a copy*: the
frame is a memoryview of the array's memory.  On the receiving side the array is
rebuilt on top of the received frame, again without a copy (writable when the
transport delivers ``bytearray`` frames, as tcp and inproc do).

Strings are UTF-8 with lone surrogates passed through (``UNICODE_ERRORS``): a
Python ``str`` may hold one (an exception's message built from undecodable
bytes, a key made of one), and it must travel as it is, not fail the write.  A
packer told so is a quarter slower on every string, so a message is packed
strictly first and again only when that fails; decoding always passes them.

Pickle never touches the envelope: ``loads`` of an envelope cannot run code
unless ``deserialize=True``.  Any other object in a message is a ``TypeError``
naming its type, raised on the sending side.
"""

from __future__ import annotations

import numbers
import pickle
from collections.abc import Mapping

import cloudpickle
import msgpack

__all__ = [
    "INBAND_LIMIT", "Pickled", "ProtocolError", "Serialized", "UNICODE_ERRORS", "deserialize",
    "deserialize_tree", "dumps", "loads", "nbytes", "pickle_frames", "serialize",
]  # fmt: skip

#: Out-of-band buffers smaller than this stay inside the pickle stream.
INBAND_LIMIT = 4096
#: How str is encoded and decoded (both ways): lone surrogates pass (see above).
UNICODE_ERRORS = "surrogatepass"

EXT_TUPLE, EXT_SET, EXT_FROZENSET, EXT_SERIALIZED = 1, 2, 3, 4


class ProtocolError(ValueError):
    """Frames that do not decode into a message (corrupt, truncated, hostile)."""


class Pickled:
    """Marker: pickle ``obj`` into frames of its own when the message is sent."""

    __slots__ = ("obj",)

    def __init__(self, obj):
        self.obj = obj

    def __repr__(self):
        return f"Pickled({type(self.obj).__name__})"


class Serialized:
    """A pickled payload kept opaque: a small ``header`` dict and its ``frames``.

    ``header["type"]`` names the pickled object's type (for logs and
    dashboards; it is the sender's word, not a checked fact).
    """

    __slots__ = ("header", "frames")

    def __init__(self, header: dict, frames):
        self.header = header
        # a tuple: of bytes-like frames, one the garbage collector stops tracking at
        # its first look (a scheduler holds one per task until the task is forgotten)
        self.frames = tuple(frames)

    @property
    def nbytes(self) -> int:
        return sum(nbytes(f) for f in self.frames)

    def deserialize(self):
        return deserialize(self)

    def __eq__(self, other):
        if not isinstance(other, Serialized):
            return NotImplemented
        return self.header == other.header and [bytes(f) for f in self.frames] == [
            bytes(f) for f in other.frames
        ]

    __hash__ = None  # mutable frames

    def __repr__(self):
        return f"<Serialized {self.header.get('type', '?')}: {len(self.frames)} frames, {self.nbytes} bytes>"


def nbytes(frame) -> int:
    """Size in bytes of a frame (bytes, bytearray or any buffer)."""
    return frame.nbytes if isinstance(frame, memoryview) else len(frame)


# --- payloads ---


def serialize(obj) -> Serialized:
    """Pickle ``obj`` with protocol 5; large buffers become zero-copy frames."""
    cls = type(obj)
    header = {"serializer": "pickle", "type": f"{cls.__module__}.{cls.__qualname__}"}
    return Serialized(header, pickle_frames(obj, cloudpickle.dumps))


def pickle_frames(obj, dumps) -> list:
    """``[stream, *out-of-band buffers]``: *obj* pickled with ``dumps`` (pickle's or
    cloudpickle's), protocol 5, buffers of ``INBAND_LIMIT`` bytes or more as frames of
    their own without a copy.  A large value of its own that pickle would copy is given
    to it in a form it need not (:func:`_bufferable`)."""
    buffers: list = []

    def out_of_band(buf: pickle.PickleBuffer):
        try:
            view = buf.raw()
        except BufferError:  # not contiguous: pickle copies it in-band
            return True
        if view.nbytes < INBAND_LIMIT:
            return True
        buffers.append(view)
        return False

    data = dumps(_bufferable(obj), protocol=5, buffer_callback=out_of_band)
    return [data, *buffers]


def _bufferable(obj):
    """*obj*, or what pickles as it with its bytes out of band: a large ``bytes`` (pickle
    copies it into the stream, and its reader copies it out again), a ``memoryview``
    (cloudpickle makes it ``bytes``), a NumPy array broadcast along an axis (pickle made
    its whole virtual size: 8 KB that looked like 800 MB became 800 MB) or not contiguous
    (pickle copied it twice).  Only the value itself: one inside a container travels as
    before."""
    t = type(obj)
    if t is bytes and len(obj) >= INBAND_LIMIT:
        return _Rebuilt(bytes, (pickle.PickleBuffer(obj),))
    if (t is memoryview and obj.nbytes >= INBAND_LIMIT and obj.c_contiguous
            and obj.format.lstrip("@") in _CASTABLE):  # (what memoryview.cast makes again)
        return _Rebuilt(_memoryview, (pickle.PickleBuffer(obj.cast("B")), obj.format, obj.shape))
    if t.__name__ == "ndarray" and t.__module__ == "numpy" and obj.nbytes >= INBAND_LIMIT:
        broadcast = any(s == 0 and n > 1 for s, n in zip(obj.strides, obj.shape))
        if broadcast and not obj.flags.writeable and not obj.dtype.hasobject:
            import numpy as np

            compact = np.ascontiguousarray(obj[tuple(slice(0, 1) if s == 0 else slice(None)
                                                     for s in obj.strides)])  # fmt: skip
            return _Rebuilt(np.broadcast_to, (compact, obj.shape))
        if not (obj.flags.c_contiguous or obj.flags.f_contiguous or obj.dtype.hasobject):
            import numpy as np

            return np.ascontiguousarray(obj)  # (one copy, sent without another)
    return obj


class _Rebuilt:
    """Pickles as ``func(*args)``."""

    __slots__ = ("func", "args")

    def __init__(self, func, args):
        self.func, self.args = func, args

    def __reduce__(self):
        return self.func, self.args


#: memoryview formats a cast gives back (native, one character)
_CASTABLE = frozenset("cbB?hHiIlLqQnNfdP")


def _memoryview(buf, fmt, shape):
    return memoryview(buf).cast("B").cast(fmt, shape)


def deserialize(ser: Serialized):
    """Unpickle a :class:`Serialized` (this runs code chosen by the sender)."""
    if ser.header.get("serializer") != "pickle" or not ser.frames:
        raise ProtocolError(f"cannot deserialize payload with header {ser.header!r}")
    return pickle.loads(ser.frames[0], buffers=ser.frames[1:])


def deserialize_tree(obj):
    """Return ``obj`` with every :class:`Serialized` inside replaced by its value."""
    if isinstance(obj, Serialized):
        return obj.deserialize()
    if isinstance(obj, dict):
        return {k: deserialize_tree(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple, set, frozenset)):
        return type(obj)(deserialize_tree(v) for v in obj)
    return obj


# --- envelopes ---


def dumps(msg) -> list:
    """Encode a message into frames: ``[envelope, *payload_frames]``."""
    encode = _Encoder()
    try:
        return [encode.pack(msg), *encode.payload]
    except UnicodeEncodeError:  # a lone surrogate: again, passing them (a slower packer)
        encode.release()
        encode = _Encoder(UNICODE_ERRORS)
        return [encode.pack(msg), *encode.payload]
    finally:
        encode.release()


class _Encoder:
    """msgpack's ``default`` for one message: markers become ext values and their
    frames go to ``payload``.  An object, not a closure: a nested function that
    passes itself on to a packer is a reference cycle (function -> cell ->
    function) holding ``payload``, so every message's frames, a task's result
    among them, would live until the garbage collector next got round to them.

    Each ext value (a tuple, a set, a payload reference) is packed on its own, while
    the packer of the value around it is busy: one ``Packer`` per nesting depth is
    made for the message and reused (``msgpack.packb`` makes one per call, 0.9 us,
    four times the cost of packing a small value: a batch of compute-task messages
    holds two or three ext values per task).  The packers refer to this object
    (their ``default``); :meth:`release` drops them, so no cycle outlives
    :func:`dumps`."""

    __slots__ = ("payload", "_packers", "_depth", "_errors")

    def __init__(self, unicode_errors=None) -> None:
        self.payload: list = []
        self._packers: list = []
        self._depth = 0
        self._errors = unicode_errors  # None: strict, msgpack's fast path

    def pack(self, obj) -> bytes:
        depth = self._depth
        if depth == len(self._packers):
            self._packers.append(msgpack.Packer(default=self, strict_types=True, use_bin_type=True,
                                                unicode_errors=self._errors))  # fmt: skip
        self._depth = depth + 1
        try:
            return self._packers[depth].pack(obj)
        finally:
            self._depth = depth

    def release(self) -> None:
        self._packers.clear()

    def __call__(self, obj):
        if isinstance(obj, Pickled):
            obj = serialize(obj.obj)
        if isinstance(obj, Serialized):
            first = len(self.payload)
            self.payload.extend(obj.frames)
            return msgpack.ExtType(EXT_SERIALIZED, self.pack([obj.header, first, len(obj.frames)]))
        if isinstance(obj, tuple):
            return msgpack.ExtType(EXT_TUPLE, self.pack(list(obj)))
        if isinstance(obj, (set, frozenset)):
            code = EXT_FROZENSET if isinstance(obj, frozenset) else EXT_SET
            return msgpack.ExtType(code, self.pack(list(obj)))
        return _plain(obj)


def _plain(obj):
    """Subclasses and lookalikes of msgpack's types (strict_types sends them here)."""
    if isinstance(obj, Mapping):
        return dict(obj)
    if isinstance(obj, list):
        return list(obj)
    if isinstance(obj, str):
        return str(obj)
    if isinstance(obj, (bytearray, memoryview)):
        return bytes(obj)
    if isinstance(obj, numbers.Integral):  # NumPy integers, IntEnum
        return int(obj)
    if isinstance(obj, numbers.Real):  # NumPy floats
        return float(obj)
    raise TypeError(
        f"cannot put a {type(obj).__module__}.{type(obj).__qualname__} in a message "
        "envelope (plain data only); wrap it in Pickled(...) to send it as a payload"
    )


class _Failed(Exception):
    """Carries a deserialization error through msgpack's parser unchanged."""


def loads(frames: list, *, deserialize: bool = False):
    """Decode frames made by :func:`dumps`.

    Payloads come back as :class:`Serialized` unless ``deserialize`` is true.
    Malformed frames raise :class:`ProtocolError`; with ``deserialize=True``
    an error raised while unpickling a payload propagates unchanged.
    """
    if not frames:
        raise ProtocolError("a message needs at least one frame")
    ext_hook = _Decoder(frames[1:], deserialize)
    try:
        return _unpackb(frames[0], ext_hook)
    except _Failed as failed:
        raise failed.args[0] from None
    except ProtocolError:
        raise
    except (ValueError, TypeError, RecursionError) as exc:  # msgpack's format errors
        raise ProtocolError(f"malformed message envelope: {exc}") from None


class _Decoder:
    """msgpack's ``ext_hook`` for one message (an object for the reason
    :class:`_Encoder` gives: no cycle holding the payload frames)."""

    __slots__ = ("payload", "deserialize")

    def __init__(self, payload: list, deserialize: bool) -> None:
        self.payload, self.deserialize = payload, deserialize

    def __call__(self, code, data):
        if code == EXT_SERIALIZED:
            ser = _payload_from(_unpackb(data, self), self.payload)
            if not self.deserialize:
                return ser
            try:
                return ser.deserialize()
            except Exception as exc:
                raise _Failed(exc) from exc
        if code in (EXT_TUPLE, EXT_SET, EXT_FROZENSET):
            items = _unpackb(data, self)
            if not isinstance(items, list):
                raise ProtocolError(f"ext {code} must hold an array")
            return {EXT_TUPLE: tuple, EXT_SET: set, EXT_FROZENSET: frozenset}[code](items)
        raise ProtocolError(f"unknown msgpack ext type {code}")


def _unpackb(data, ext_hook):
    return msgpack.unpackb(data, ext_hook=ext_hook, raw=False, strict_map_key=False,
                           unicode_errors=UNICODE_ERRORS)  # fmt: skip


def _payload_from(ref, payload: list) -> Serialized:
    ok = (
        isinstance(ref, list)
        and len(ref) == 3
        and isinstance(ref[0], dict)
        and all(isinstance(i, int) and not isinstance(i, bool) for i in ref[1:])
    )
    if not ok or ref[1] < 0 or ref[2] < 1 or ref[1] + ref[2] > len(payload):
        raise ProtocolError(f"bad payload reference {ref!r} ({len(payload)} payload frames)")
    header, first, count = ref
    return Serialized(header, payload[first : first + count])
