"""shoal.distributed.protocol: envelopes, payload frames, zero copy, opaque routing."""

from __future__ import annotations

import enum
import pickle

import msgpack
import pytest

pytest.importorskip("msgpack", reason="pip install msgpack (the distributed extra has it)")

from shoal.distributed.protocol import (
    INBAND_LIMIT,
    Pickled,
    ProtocolError,
    Serialized,
    deserialize_tree,
    dumps,
    loads,
    serialize,
)


def wire(frames):
    """What a transport delivers: the envelope, then writable copies of the payload."""
    return [bytes(frames[0]), *(bytearray(f) for f in frames[1:])]


class Bomb:
    """Pickles fine, refuses to be unpickled."""

    def __init__(self, tag="x"):
        self.tag = tag

    def __setstate__(self, state):
        raise RuntimeError("Bomb unpickled")


class Colour(enum.IntEnum):
    RED = 1


def test_plain_data_round_trip():
    msg = {
        "op": "update",
        "keys": [("x", 0), ("x", 1), "y"],
        "nested": {"a": [1, 2.5, None, True, False], "b": b"\x00raw", "t": ((1, 2), [3])},
        ("tuple", "key"): {1, 2, 3},
        "frozen": frozenset({"a"}),
        "big": 2**63 - 1,
        "neg": -(2**63),
    }
    frames = dumps(msg)
    assert len(frames) == 1  # no payloads: the envelope alone
    out = loads(wire(frames))
    assert out == msg
    assert isinstance(out["keys"][0], tuple) and isinstance(out["nested"]["t"][1], list)
    assert isinstance(out["frozen"], frozenset) and isinstance(out[("tuple", "key")], set)


def test_lookalikes_become_plain():
    np = pytest.importorskip("numpy")
    from collections import OrderedDict

    msg = {"n": np.int64(3), "f": np.float32(0.5), "c": Colour.RED, "od": OrderedDict(a=1), "ba": bytearray(b"z")}
    out = loads(dumps(msg))
    assert out == {"n": 3, "f": 0.5, "c": 1, "od": {"a": 1}, "ba": b"z"}
    assert type(out["n"]) is int and type(out["od"]) is dict


def test_arbitrary_objects_are_refused_in_the_envelope():
    with pytest.raises(TypeError, match=r"Bomb.*Pickled"):
        dumps({"op": "x", "value": Bomb()})


def test_pickled_payload_stays_opaque_unless_asked():
    frames = dumps({"op": "put", "value": Pickled({"a": [1, 2]}), "n": 1})
    assert len(frames) == 2
    out = loads(wire(frames))
    assert isinstance(out["value"], Serialized)
    assert out["value"].header["type"] == "builtins.dict"
    assert out["value"].deserialize() == {"a": [1, 2]}
    assert loads(wire(frames), deserialize=True)["value"] == {"a": [1, 2]}


def test_payload_never_enters_msgpack():
    secret = b"payload-bytes-" * 10
    frames = dumps({"op": "x", "value": Pickled(secret)})
    assert secret not in frames[0]
    assert any(secret in bytes(f) for f in frames[1:])


def test_numpy_buffers_are_zero_copy_both_ways():
    np = pytest.importorskip("numpy")
    arr = np.arange(1_000_000, dtype="f8")
    frames = dumps({"x": Pickled(arr)})
    # envelope, pickle stream, the array's own memory (no copy)
    assert len(frames) == 3
    assert isinstance(frames[2], memoryview)
    assert np.shares_memory(np.frombuffer(frames[2], dtype="u1"), arr)
    delivered = wire(frames)
    out = loads(delivered, deserialize=True)["x"]
    np.testing.assert_array_equal(out, arr)
    assert np.shares_memory(out, np.frombuffer(delivered[2], dtype="u1"))  # rebuilt in place
    assert out.flags.writeable


def test_small_buffers_stay_in_band():
    np = pytest.importorskip("numpy")
    small = np.arange(INBAND_LIMIT // 16, dtype="f8")
    frames = dumps({"x": Pickled(small), "y": Pickled(np.asfortranarray(np.ones((600, 600))))})
    assert len(frames) == 1 + 1 + 2  # small: one frame; large Fortran-ordered: two


def test_serialized_is_forwarded_untouched():
    """A middle hop re-sends the payload frames as they came: no unpickling, no copy."""
    first = loads(wire(dumps({"op": "route", "data": [Pickled(Bomb()), {"inner": Pickled(Bomb("y"))}]})))
    middle = dumps({"op": "deliver", "data": first["data"]})  # the middle never unpickles
    payload_in = first["data"][0].frames + first["data"][1]["inner"].frames
    assert all(a is b for a, b in zip(middle[1:], payload_in))
    final = loads(wire(middle))
    assert isinstance(final["data"][1]["inner"], Serialized)
    with pytest.raises(RuntimeError, match="Bomb unpickled"):
        loads(wire(middle), deserialize=True)


def test_deserialize_tree():
    tree = {"a": [serialize(1), (serialize("s"),)], "b": {serialize(2).header["type"]: 3}}
    assert deserialize_tree(tree) == {"a": [1, ("s",)], "b": {"builtins.int": 3}}


@pytest.mark.parametrize(
    "frames",
    [
        [],
        [b"\xc1"],  # never-used msgpack byte
        [msgpack.packb(msgpack.ExtType(99, b""))],  # unknown ext
        [msgpack.packb(msgpack.ExtType(4, msgpack.packb([{}, 0, 5])))],  # refers to absent frames
        [msgpack.packb(msgpack.ExtType(4, msgpack.packb("nonsense")))],
        [msgpack.packb(msgpack.ExtType(1, msgpack.packb(7)))],  # tuple ext not holding an array
        [msgpack.packb([1, 2])[:1]],  # truncated
    ],
)
def test_malformed_frames_raise_protocol_error(frames):
    with pytest.raises(ProtocolError):
        loads(frames)


def test_unknown_serializer_is_refused():
    with pytest.raises(ProtocolError):
        Serialized({"serializer": "evil"}, [b""]).deserialize()


def test_serialize_uses_protocol_5():
    ser = serialize([1])
    assert pickle.loads(ser.frames[0]) == [1]
    assert ser.frames[0][:2] == b"\x80\x05"


def test_dumps_leaves_no_cycle_holding_the_payload():
    """The encoder's packers refer back to it (their ``default``); once ``dumps``
    returns, nothing but the returned frames holds a payload: it is freed when they
    are, without waiting for the garbage collector."""
    import gc
    import weakref

    class Blob:  # a payload's owner, as a task's result would be
        pass

    blob = Blob()
    gone = weakref.ref(blob)
    msg = {"op": "x", "key": ("k", 1), "items": [(1, {2, 3}), frozenset({4})],
           "value": Pickled(blob)}  # fmt: skip
    gc.disable()
    try:
        frames = dumps(msg)
        back = loads(frames, deserialize=True)
        assert back["key"] == ("k", 1) and back["items"] == [(1, {2, 3}), frozenset({4})]
        assert isinstance(back["value"], Blob)
        del msg, blob, back
        assert gone() is None  # only the frames held its pickle, never the object
        frames_ref = [weakref.ref(f) for f in frames if isinstance(f, bytearray)]
        del frames
        assert all(r() is None for r in frames_ref)
        assert not [o for o in gc.get_objects() if type(o).__name__ == "_Encoder"]
    finally:
        gc.enable()


def test_values_pickle_would_copy_travel_out_of_band():
    """A broadcast array travels as its one row (it became its whole virtual size), a
    non-contiguous one in one copy, large bytes and a memoryview as buffers (a memoryview
    came back as bytes)."""
    np = pytest.importorskip("numpy")
    from shoal.distributed.protocol.serialize import deserialize, serialize

    wide = np.broadcast_to(np.arange(1000.0), (100_000, 1000))  # 800 MB to look at
    ser = serialize(wide)
    assert sum(len(f) if not isinstance(f, memoryview) else f.nbytes for f in ser.frames) < 20_000
    back = deserialize(ser)
    assert back.shape == wide.shape and np.array_equal(back[123], wide[123])
    strided = np.arange(200_000.0).reshape(100, 2000)[:, ::2]
    back = deserialize(serialize(strided))
    assert np.array_equal(back, strided) and back.flags.c_contiguous
    blob = b"z" * 100_000
    ser = serialize(blob)
    assert len(ser.frames) == 2 and len(ser.frames[0]) < 1000  # the bytes: a frame of their own
    assert deserialize(ser) == blob
    view = memoryview(np.arange(3000, dtype="i4").reshape(3, 1000))
    back = deserialize(serialize(view))
    assert type(back) is memoryview and back.format == "i" and back.shape == (3, 1000)
    assert back.tolist() == view.tolist()


def test_what_stays_as_pickle_made_it():
    """Writeable arrays stay writeable (a length-1 axis has stride 0 too), and memoryviews
    a cast cannot make again (float16, big-endian, F order) travel as before."""
    np = pytest.importorskip("numpy")
    from shoal.distributed.protocol.serialize import deserialize, serialize

    row = np.arange(100_000.0)[None]  # strides (0, 8), writeable
    back = deserialize(serialize(row))
    back[0, 0] = 5.0
    for view in (memoryview(np.zeros(10_000, dtype="e")), memoryview(np.zeros(10_000, dtype=">d")),
                 memoryview(np.asfortranarray(np.zeros((100, 100))))):
        assert bytes(deserialize(serialize(view))) == view.tobytes()
