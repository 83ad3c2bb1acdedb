"""shoal.distributed.comm: tcp://, tls://, inproc:// round trips, the handshake, hostile peers."""

from __future__ import annotations

import asyncio
import logging
import os
import pickle
import ssl
import struct
import tracemalloc

import pytest

pytest.importorskip("msgpack", reason="pip install msgpack (the distributed extra has it)")

from shoal import config
from shoal.testing.aio import run
from shoal.distributed.comm import CommClosedError, HandshakeError, connect, listen, parse_host_port
from shoal.distributed.comm import tcp as tcp_module
from shoal.distributed.protocol import Pickled, Serialized
from shoal.distributed.security import Security

TCP_LOG = "shoal.distributed.comm.tcp"


@pytest.fixture(scope="module")
def security():
    pytest.importorskip("cryptography", reason="pip install cryptography (for Security.temporary)")
    sec = Security.temporary()
    yield sec
    sec.close()


@pytest.fixture(params=["tcp", "tls", "inproc"])
def scheme_security(request, security):
    return request.param, (security if request.param == "tls" else None)


async def echo(comm):
    try:
        while True:
            await comm.write(await comm.read())
    except CommClosedError:
        pass
    finally:
        await comm.close()


def warnings_from(caplog, logger=TCP_LOG):
    return [r for r in caplog.records if r.name == logger and r.levelno >= logging.WARNING]


class Bomb:
    """Pickles fine; unpickling it raises (and counts the attempts)."""

    unpickled = 0

    def __init__(self):
        self.armed = True  # some state, so that unpickling calls __setstate__

    def __setstate__(self, state):
        type(self).unpickled += 1
        raise RuntimeError("Bomb unpickled")


# --- round trips on every transport ---


def test_small_and_many_messages(scheme_security):
    scheme, sec = scheme_security

    async def main():
        listener = await listen(f"{scheme}://", echo, security=sec)
        comm = await connect(listener.contact_address, security=sec)
        assert comm.peer_address == listener.contact_address
        await comm.write({"op": "ping", "key": ("x", 1), "data": b"\x00" * 10})
        assert await comm.read() == {"op": "ping", "key": ("x", 1), "data": b"\x00" * 10}
        for i in range(300):
            await comm.write({"i": i})
        assert [(await comm.read())["i"] for _ in range(300)] == list(range(300))
        with pytest.raises(TypeError, match="Pickled"):
            await comm.write({"bad": object()})
        await comm.write([1, "still usable"])
        assert await comm.read() == [1, "still usable"]
        await comm.close()
        assert comm.closed()
        with pytest.raises(CommClosedError):
            await comm.read()
        await listener.stop()

    run(main())


def test_large_numpy_payload(scheme_security):
    np = pytest.importorskip("numpy")
    scheme, sec = scheme_security
    arr = np.arange(100 * 2**20 // 8, dtype="f8")  # 100 MiB

    async def main():
        got = asyncio.get_running_loop().create_future()

        async def receive(comm):
            msg = await comm.read()  # payload kept as frames: look at them
            frames = msg["x"].frames
            assert [type(f) for f in frames] == [bytearray, bytearray]
            assert len(frames[1]) == arr.nbytes  # the array's buffer: one frame of its own
            out = msg["x"].deserialize()
            assert np.shares_memory(out, np.frombuffer(frames[1], dtype="u1"))  # no copy here
            got.set_result(out)
            await comm.close()

        listener = await listen(f"{scheme}://", receive, security=sec)
        comm = await connect(listener.contact_address, security=sec)
        nbytes = await comm.write({"x": Pickled(arr)})
        assert nbytes >= arr.nbytes
        arr[0] = -1.0  # after write returned: the receiver must not alias our memory
        out = await got
        assert out.flags.writeable and out.shape == arr.shape
        assert out[0] == 0.0 and out[-1] == arr[-1]
        await comm.close()
        await listener.stop()

    run(main(), timeout=40)


def test_frames_of_every_size_around_the_direct_read_threshold(scheme_security):
    """Small frames are read from what arrived with them, large ones straight into their
    own buffer (comm/stream.py): sizes on both sides of the line, several per message,
    in one stream of messages, arrive intact and in order."""
    scheme, sec = scheme_security
    sizes = [0, 1, 65535, 65536, 65537, 300_000, 2**20 + 3, 5, 4 * 2**20]

    async def main():
        arrived = []
        done = asyncio.get_running_loop().create_future()

        async def collect(comm):  # (an echo would deadlock: both ends writing megabytes)
            for _ in range(12):
                arrived.append(await comm.read(deserialize=True))
            done.set_result(None)
            await comm.close()

        listener = await listen(f"{scheme}://", collect, security=sec)
        comm = await connect(listener.contact_address, security=sec)
        messages = [{"i": i, "parts": [Pickled(bytes([i % 251]) * n) for n in sizes[i % 3::2]]}
                    for i in range(12)]  # fmt: skip
        for msg in messages:
            await comm.write(msg)
        await done
        for msg, got in zip(messages, arrived):
            assert got["i"] == msg["i"]
            assert [len(p) for p in got["parts"]] == [len(p.obj) for p in msg["parts"]]
            assert all(a == b.obj for a, b in zip(got["parts"], msg["parts"]))
        await comm.close()
        await listener.stop()

    run(main(), timeout=60)


def test_a_message_sent_just_before_the_peer_closes_is_read(scheme_security):
    scheme, sec = scheme_security

    async def main():
        async def say_and_leave(comm):
            await comm.write({"last": "words", "blob": Pickled(b"z" * 3 * 2**20)})
            await comm.close()

        listener = await listen(f"{scheme}://", say_and_leave, security=sec)
        comm = await connect(listener.contact_address, security=sec)
        await asyncio.sleep(0.2)  # (the peer has closed: its message and its end wait here)
        msg = await comm.read(deserialize=True)
        assert msg["last"] == "words" and msg["blob"] == b"z" * 3 * 2**20
        with pytest.raises(CommClosedError):
            await comm.read()
        await comm.close()
        await listener.stop()

    run(main(), timeout=30)


def test_payloads_route_through_a_middle_that_never_unpickles(scheme_security):
    scheme, sec = scheme_security
    Bomb.unpickled = 0

    async def main():
        final = asyncio.get_running_loop().create_future()

        async def receiver(comm):
            try:
                final.set_result(await comm.read(deserialize=True))
            except Exception as exc:
                final.set_exception(exc)
            await comm.close()

        async def middle(comm):  # a scheduler-like hop: opaque payloads only
            msg = await comm.read()
            assert isinstance(msg["payload"]["nested"][0], Serialized)
            out = await connect(msg["to"], security=sec)
            await out.write({"op": "deliver", "payload": msg["payload"]})
            await out.close()
            await comm.close()

        far = await listen(f"{scheme}://", receiver, security=sec)
        mid = await listen(f"{scheme}://", middle, security=sec)
        comm = await connect(mid.contact_address, security=sec)
        await comm.write({"to": far.contact_address, "payload": {"nested": [Pickled(Bomb()), Pickled(1)]}})
        with pytest.raises(RuntimeError, match="Bomb unpickled"):
            await final
        assert Bomb.unpickled == 1  # at the final receiver, never in the middle
        await comm.close()
        await far.stop()
        await mid.stop()

    run(main())


# --- handshake and hostile peers (tcp) ---


async def raw_exchange(address, data: bytes, *, close=False, read=True) -> bytes:
    """Send raw bytes to a listener; return what comes back before it closes."""
    host, port = parse_host_port(address.split("://")[1])
    reader, writer = await asyncio.open_connection(host, port)
    writer.write(data)
    if close:
        writer.write_eof()
    answer = await asyncio.wait_for(reader.read(), 5) if read else b""
    writer.close()
    await writer.wait_closed()
    return answer


async def still_serving(listener) -> None:
    comm = await connect(listener.contact_address)
    await comm.write({"op": "ok?"})
    assert await comm.read() == {"op": "ok?"}
    await comm.close()


def test_wrong_magic_is_closed_with_one_log_line(caplog):
    async def main():
        called = []
        listener = await listen("tcp://", lambda comm: called.append(comm))
        answer = await raw_exchange(listener.contact_address, b"HELLO" + b"\x00" * 40)
        assert answer == b""  # closed without a word of our protocol
        assert not called
        await listener.stop()

    with caplog.at_level(logging.DEBUG, logger="shoal.distributed"):
        run(main())
    (record,) = warnings_from(caplog)
    assert "unexpected bytes" in record.getMessage() and "HELLO" in record.getMessage()


def test_http_request_on_the_comm_port(caplog):
    async def main():
        listener = await listen("tcp://", echo, dashboard_address="http://127.0.0.1:8787/status")
        answer = await raw_exchange(listener.contact_address, b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
        assert answer.startswith(b"HTTP/1.1 400") and b"comm port" in answer
        await still_serving(listener)
        await listener.stop()

    with caplog.at_level(logging.DEBUG, logger="shoal.distributed"):
        run(main())
    (record,) = warnings_from(caplog)
    text = record.getMessage()
    assert "comm port" in text and "HTTP" in text and "http://127.0.0.1:8787/status" in text


@pytest.mark.parametrize("header", [struct.pack("<QQ", 1, 2**62), struct.pack("<Q", 2**62)])
def test_huge_length_header_is_refused_before_allocating(caplog, header):
    async def main():
        errors = []

        async def handler(comm):
            try:
                while True:
                    await comm.write(await comm.read())
            except CommClosedError as exc:
                errors.append(exc)

        listener = await listen("tcp://", handler)
        comm = await connect(listener.contact_address)
        tracemalloc.start()
        try:
            comm._writer.write(header)  # a hostile peer past the handshake
            with pytest.raises(CommClosedError):
                await comm.read()
            _, peak = tracemalloc.get_traced_memory()
        finally:
            tracemalloc.stop()
        assert peak < 8 * 2**20  # no allocation of the announced size
        assert len(errors) == 1
        await comm.close()
        await still_serving(listener)
        await listener.stop()

    with caplog.at_level(logging.WARNING, logger="shoal.distributed"):
        run(main())
    (record,) = warnings_from(caplog)
    assert "frame" in record.getMessage()


@pytest.mark.parametrize("payload, close_first, expected", [
    # a frame announced as 100 bytes, then the sender closes after ten
    (struct.pack("<QQ", 1, 100) + b"only ten b", True, "middle of a message"),
    # well framed, but the envelope is not msgpack
    (struct.pack("<QQ", 1, 1) + b"\xc1", False, "malformed message envelope"),
], ids=["truncated", "garbage-envelope"])
def test_bad_message_closes(caplog, payload, close_first, expected):
    async def main():
        outcome = asyncio.get_running_loop().create_future()

        async def handler(comm):
            if outcome.done():
                return await echo(comm)
            try:
                outcome.set_result(await comm.read())
            except CommClosedError as exc:
                outcome.set_result(exc)

        listener = await listen("tcp://", handler)
        comm = await connect(listener.contact_address)
        comm._writer.write(payload)
        if close_first:
            await comm.close()
        assert isinstance(await outcome, CommClosedError)
        if not close_first:
            await comm.close()
        await still_serving(listener)
        await listener.stop()

    with caplog.at_level(logging.WARNING, logger="shoal.distributed"):
        run(main())
    (record,) = warnings_from(caplog)
    assert expected in record.getMessage()


def test_silent_peer_times_out(caplog):
    async def main():
        listener = await listen("tcp://", echo)
        host, port = parse_host_port(listener.contact_address[6:])
        reader, writer = await asyncio.open_connection(host, port)
        assert await asyncio.wait_for(reader.read(), 5) == b""  # dropped after the timeout
        writer.close()
        await listener.stop()

    with config.set({"distributed.comm.timeouts.handshake": "200ms"}):
        with caplog.at_level(logging.WARNING, logger="shoal.distributed"):
            run(main())
    (record,) = warnings_from(caplog)
    assert "no complete handshake" in record.getMessage()


def test_token(caplog):
    async def main():
        listener = await listen("tcp://", echo, token="s3cret")
        comm = await connect(listener.contact_address, token="s3cret")
        await comm.write({"op": "in"})
        assert await comm.read() == {"op": "in"}
        await comm.close()
        with pytest.raises(HandshakeError, match="token"):
            await connect(listener.contact_address, token="wrong")
        with pytest.raises(HandshakeError, match="token"):
            await connect(listener.contact_address)
        await listener.stop()

    with caplog.at_level(logging.WARNING, logger="shoal.distributed"):
        run(main())
    assert len(warnings_from(caplog)) == 2
    assert all("token" in r.getMessage() for r in warnings_from(caplog))


def test_token_from_config():
    async def main():
        listener = await listen("tcp://", echo)
        comm = await connect(listener.contact_address)
        await comm.close()
        await listener.stop()

    with config.set({"distributed.comm.token": "shared"}):
        run(main())


def test_frame_limit_is_checked_when_sending():
    async def main():
        listener = await listen("tcp://", echo)
        comm = await connect(listener.contact_address)
        with pytest.raises(ValueError, match="max-frame-size"):
            await comm.write({"x": Pickled(b"z" * 10_000)})
        await comm.write("fine")
        assert await comm.read() == "fine"
        await comm.close()
        await listener.stop()

    with config.set({"distributed.comm.max-frame-size": "4kB"}):
        run(main())


def test_connect_refused_times_out():
    async def main():
        listener = await listen("tcp://", echo)
        address = listener.contact_address
        await listener.stop()
        loop = asyncio.get_running_loop()
        start = loop.time()
        with pytest.raises(TimeoutError, match="connect"):
            await connect(address, timeout=0.3)
        assert loop.time() - start < 3

    run(main())


def test_connect_to_something_that_is_not_shoal():
    async def main():
        async def http_like(reader, writer):
            writer.write(b"HTTP/1.1 200 OK\r\n\r\n")
            await writer.drain()
            writer.close()

        server = await asyncio.start_server(http_like, "127.0.0.1", 0)
        port = server.sockets[0].getsockname()[1]
        with pytest.raises(HandshakeError, match="not a shoal"):
            await connect(f"tcp://127.0.0.1:{port}")
        server.close()
        await server.wait_closed()

    run(main())


# --- TLS and security defaults ---


def test_tls_client_without_certificate_is_refused(security):
    async def main():
        called = []
        listener = await listen("tls://", lambda comm: called.append(comm), security=security)
        host, port = parse_host_port(listener.contact_address[6:])
        ctx = ssl.create_default_context(cafile=security.tls_ca_file)
        ctx.check_hostname = False
        with pytest.raises((ssl.SSLError, ConnectionError, asyncio.IncompleteReadError)):
            reader, writer = await asyncio.open_connection(host, port, ssl=ctx)
            try:
                writer.write(b"SHOAL")
                await reader.readexactly(24)
            finally:
                writer.close()
        with pytest.raises(ValueError, match="certificate"):
            await connect(listener.contact_address, security=Security(tls_ca_file=security.tls_ca_file))
        with pytest.raises((CommClosedError, HandshakeError)):  # plain tcp to a tls port
            await connect("tcp://" + listener.contact_address[6:], timeout=2)
        stranger = Security.temporary()  # certificates from another CA
        try:
            with pytest.raises(HandshakeError, match="TLS"):
                await connect(listener.contact_address, security=stranger)
        finally:
            stranger.close()
        assert not called
        comm = await connect(listener.contact_address, security=security)
        assert comm.extra_info["peercert"]
        await comm.close()
        await listener.stop()

    run(main())


def test_require_encryption_refuses_tcp(security):
    async def main():
        with pytest.raises(ValueError, match="tls://"):
            await listen("tcp://", echo, security=security)  # temporary() requires encryption
        with pytest.raises(ValueError, match="tls://"):
            await connect("tcp://127.0.0.1:1", security=security)
        with config.set({"distributed.comm.require-encryption": True}):
            with pytest.raises(ValueError, match="encryption is required"):
                await listen("tcp://", echo)
            listener = await listen("inproc://", echo)  # never leaves the process
            await listener.stop()

    run(main())


@pytest.mark.parametrize("address", ["tcp://", "tcp://:0", "127.0.0.1:0"])
def test_default_bind_is_loopback(address):
    async def main():
        listener = await listen(address, echo)
        host, port = parse_host_port(listener.listen_address[6:])
        assert host == "127.0.0.1" and port > 0
        await listener.stop()

    run(main())


def test_public_bind_without_tls_warns_once(caplog, monkeypatch, security):
    monkeypatch.setattr(tcp_module, "_warned_public_bind", False)

    async def main():
        first = await listen("tcp://0.0.0.0:0", echo)
        second = await listen("tcp://0.0.0.0:0", echo)
        secure = await listen("tls://0.0.0.0:0", echo, security=security)
        assert first.listen_address.startswith("tcp://0.0.0.0:")
        for listener in (first, second, secure):
            await listener.stop()

    with caplog.at_level(logging.WARNING, logger="shoal.distributed"):
        run(main())
    (record,) = warnings_from(caplog)
    assert "anyone who can connect" in record.getMessage()


def test_temporary_security_files_are_private_and_removed(security):
    sec = Security.temporary()
    directory = os.path.dirname(sec.tls_ca_file)
    assert os.stat(directory).st_mode & 0o777 == 0o700
    assert os.stat(sec.tls_worker_key).st_mode & 0o777 == 0o600
    copy = pickle.loads(pickle.dumps(sec))  # as sent to a worker process: paths only
    assert copy.tls_ca_file == sec.tls_ca_file and copy.require_encryption
    del copy
    assert os.path.exists(directory)  # only the original owns the directory
    sec.close()
    assert not os.path.exists(directory)


def test_inproc_address_and_refusal():
    async def main():
        listener = await listen("inproc://", echo)
        _, host, pid, n = listener.listen_address.replace("inproc://", "/").split("/")
        assert int(pid) == os.getpid() and n.isdigit()
        await listener.stop()
        with pytest.raises(TimeoutError):
            await connect(listener.listen_address, timeout=0.1)

    run(main())


def test_inproc_across_event_loops():
    """A listener on a loop in another thread, a connector on this one."""
    import threading

    ready, stop = threading.Event(), None
    box = {}

    def serve():
        async def main():
            nonlocal stop
            stop = asyncio.Event()
            box["listener"] = await listen("inproc://", echo)
            ready.set()
            await stop.wait()
            await box["listener"].stop()

        loop = asyncio.new_event_loop()
        box["loop"] = loop
        loop.run_until_complete(main())
        loop.close()

    thread = threading.Thread(target=serve)
    thread.start()
    assert ready.wait(5)

    async def main():
        comm = await connect(box["listener"].contact_address)
        for i in range(50):
            await comm.write({"i": i})
            assert await comm.read() == {"i": i}
        await comm.close()

    try:
        run(main())
    finally:
        box["loop"].call_soon_threadsafe(stop.set)
        thread.join(5)


def test_connect_retries_a_name_that_does_not_resolve_yet():
    """A worker started before its scheduler's host name exists (a service coming up):
    the name's lookup error is retried like a refusal, until the timeout."""

    async def main():
        loop = asyncio.get_running_loop()
        start = loop.time()
        with pytest.raises(TimeoutError, match="no-such-host.invalid"):
            await connect("tcp://no-such-host.invalid:8786", timeout=0.5)
        assert 0.4 < loop.time() - start < 5  # (it failed at once before)

    run(main())


def test_the_end_of_a_connection_after_its_last_message(scheme_security):
    """A peer that writes and leaves at once: its message is read, then the end is seen
    (a read hung for good when both came before the comm took its stream over, and a
    small last message was dropped once the end had been seen)."""
    scheme, sec = scheme_security

    async def main():
        for size in (10, 100_000):
            async def say_and_leave(comm, size=size):
                await comm.write({"last": Pickled(b"w" * size)})
                await comm.close()

            listener = await listen(f"{scheme}://", say_and_leave, security=sec)
            comm = await connect(listener.contact_address, security=sec)
            await asyncio.sleep(0.2)  # (the message and the end are both here before we read)
            assert (await comm.read(deserialize=True))["last"] == b"w" * size
            with pytest.raises(CommClosedError):
                await asyncio.wait_for(comm.read(), 5)
            await comm.close()
            await listener.stop()

    run(main(), timeout=30)


def test_one_reader_at_a_time_and_a_write_to_a_lost_connection_fails():
    async def main():
        listener = await listen("tcp://", echo)
        comm = await connect(listener.contact_address)
        first = asyncio.ensure_future(comm.read())
        await asyncio.sleep(0.05)
        with pytest.raises(RuntimeError, match="one reader at a time"):
            await comm.read()
        await comm.write({"x": 1})
        assert await asyncio.wait_for(first, 5) == {"x": 1}  # (the first reader still gets it)
        comm.abort()
        with pytest.raises(CommClosedError):
            await comm.write({"x": Pickled(b"z" * 2**20)})
        await listener.stop()

    run(main(), timeout=30)
