"""shoal.distributed.rpc and batched: op dispatch, errors across the wire, pools, BatchedSend."""

from __future__ import annotations

import asyncio
import logging

import pytest

pytest.importorskip("msgpack", reason="pip install msgpack (the distributed extra has it)")

from shoal.testing.aio import run
from shoal.distributed.batched import BatchedSend
from shoal.distributed.comm import CommClosedError, connect, listen
from shoal.distributed.protocol import Pickled, Serialized
from shoal.distributed.rpc import (
    ConnectionPool,
    RemoteError,
    RemoteTraceback,
    Server,
    UnknownOpError,
    rpc,
    send_recv,
)


class Unpicklable(Exception):
    def __reduce__(self):
        raise TypeError("cannot pickle me")


def _refuse():
    raise TypeError("cannot be rebuilt here")


class _Unloadable:
    def __reduce__(self):
        return (_refuse, ())


class Stubborn(Exception):
    """Pickles, but cannot be rebuilt: its __init__ needs two arguments, and its
    state cannot be loaded either (so it stays broken when tblib's pickling support,
    which Dask's distributed installs on import, rebuilds exceptions its own way)."""

    def __init__(self, a, b):
        super().__init__(f"{a}-{b}")
        self.part = _Unloadable()


async def add(comm, x, y):
    return x + y


def divide(comm, x, y):  # plain functions work as handlers too
    return x / y


async def echo_payload(comm, payload):
    assert isinstance(payload, Serialized)  # the server does not unpickle
    return {"back": payload}


async def fail_unpicklable(comm):
    raise Unpicklable("local only")


async def fail_stubborn(comm):
    raise Stubborn(1, 2)


HANDLERS = {
    "add": add,
    "divide": divide,
    "echo_payload": echo_payload,
    "fail_unpicklable": fail_unpicklable,
    "fail_stubborn": fail_stubborn,
}


@pytest.mark.parametrize("scheme", ["tcp", "inproc"])
def test_ops_and_errors(scheme):
    async def main():
        async with Server(HANDLERS) as server:
            address = await server.listen(f"{scheme}://")
            async with rpc(address) as r:
                ident = await r.identity()
                assert ident["id"] == server.id and ident["address"] == address
                assert await r.add(x=1, y=2) == 3
                assert await r.echo_payload(payload=Pickled([1, 2])) == {"back": [1, 2]}

                with pytest.raises(ZeroDivisionError) as info:  # the original type
                    await r.divide(x=1, y=0)
                assert isinstance(info.value.__cause__, RemoteTraceback)
                assert "divide" in str(info.value.__cause__)

                with pytest.raises(UnknownOpError, match="'no_such_op'"):
                    await r.no_such_op(a=1)
                with pytest.raises(RemoteError, match="local only") as info:
                    await r.fail_unpicklable()
                assert info.value.type_name == "Unpicklable"
                with pytest.raises(RemoteError, match="1-2"):
                    await r.fail_stubborn()
                with pytest.raises(TypeError):  # wrong arguments for the handler
                    await r.add(x=1)
                assert await r.add(x=2, y=3) == 5  # one comm served all of the above
                assert len(r._idle) == 1

    run(main())


def test_malformed_requests_get_error_replies():
    async def main():
        async with Server(HANDLERS) as server:
            comm = await connect(await server.listen())
            for bad in ([1, 2], {"no": "op"}, {"op": 7}):
                await comm.write(bad)
                reply = await comm.read()
                assert reply["status"] == "error" and "op" in reply["text"]
            assert await send_recv(comm, op="add", x=1, y=1) == 2
            await comm.write({"op": "add", "x": 1, "y": 1, "reply": False})
            assert await send_recv(comm, op="add", x=2, y=2) == 4
            await comm.close()

    run(main())


def test_pool_limit_is_respected_and_comms_reused():
    async def main():
        running, peak, comms_seen = 0, 0, set()

        async def slow(comm, i):
            nonlocal running, peak
            comms_seen.add(comm)
            running += 1
            peak = max(peak, running)
            await asyncio.sleep(0.02)
            running -= 1
            return i

        async with Server({"slow": slow}) as server:
            address = await server.listen()
            pool = ConnectionPool(limit_per_address=2)
            results = await asyncio.gather(*(pool(address).slow(i=i) for i in range(10)))
            assert results == list(range(10))
            assert peak == 2 and len(comms_seen) == 2
            assert pool.open == 2 and pool.active == 0
            await asyncio.gather(*(pool(address).slow(i=i) for i in range(4)))
            assert len(comms_seen) == 2  # reused, not reopened
            with pytest.raises(UnknownOpError):
                await pool(address).nope()
            assert pool.open == 2  # an error reply does not cost the comm
            await pool.close()
            assert pool.open == 0

    run(main())


def test_a_removed_address_is_forgotten_also_while_a_comm_to_it_is_borrowed():
    """A worker leaving while a gather holds a comm to it: the pool's entries for it went
    never (the comm's return did not forget them); and an address used again by a new
    worker starts afresh."""
    async def main():
        async def slow(comm):
            await asyncio.sleep(0.2)
            return "late"

        async with Server({"slow": slow, "ping": lambda comm: "pong"}) as server:
            address = await server.listen()
            pool = ConnectionPool(limit_per_address=2)
            assert await pool(address).ping() == "pong"  # (an idle comm)
            borrowed = asyncio.ensure_future(pool(address).slow())
            await asyncio.sleep(0.05)
            pool.remove(address)  # the worker leaves while the call is in flight
            assert not pool._idle.get(address) and address in pool._slots
            assert await borrowed == "late"
            assert address not in pool._slots and address not in pool._busy
            assert address not in pool._idle and not pool._removed and not pool._held
            assert pool.open == 0
            assert await pool(address).ping() == "pong"  # the address used again
            assert pool.open == 1
            await pool.close()

    run(main())


def test_close_leaves_no_sockets_and_no_tasks():
    psutil = pytest.importorskip("psutil")

    def connections(port):
        return [
            c for c in psutil.Process().net_connections(kind="tcp")
            if port in (c.laddr[1] if c.laddr else None, c.raddr[1] if c.raddr else None)
        ]  # fmt: skip

    async def main():
        server = Server(HANDLERS)
        address = await server.listen()
        port = int(address.rsplit(":", 1)[1])
        pool = ConnectionPool()
        r = rpc(address)
        assert await r.add(x=1, y=1) == 2
        assert await pool(address).add(x=1, y=1) == 2
        stuck = asyncio.ensure_future(pool(address).add(x=1, y=2))  # in flight at close
        await asyncio.sleep(0)
        assert connections(port)
        await server.close()
        await r.close_rpc()
        await pool.close()
        await asyncio.gather(stuck, return_exceptions=True)
        await asyncio.sleep(0.05)
        assert connections(port) == []
        assert asyncio.all_tasks() == {asyncio.current_task()}

    run(main())


def test_server_close_stops_a_long_handler():
    async def main():
        started = asyncio.Event()

        async def forever(comm):
            started.set()
            await asyncio.sleep(3600)

        server = Server({"forever": forever})
        address = await server.listen("inproc://")
        call = asyncio.ensure_future(rpc(address).forever())
        await started.wait()
        await server.close()
        with pytest.raises(CommClosedError):
            await call
        assert asyncio.all_tasks() == {asyncio.current_task()}

    run(main())


# --- BatchedSend ---


async def batched_pair(interval):
    """A BatchedSend on one end of a tcp comm and a list of the batches received."""
    batches = []
    done = asyncio.get_running_loop().create_future()

    async def receiver(comm):
        try:
            while True:
                batches.append(await comm.read())
        except CommClosedError:
            done.set_result(None)

    listener = await listen("tcp://", receiver)
    bs = BatchedSend(interval=interval)
    bs.start(await connect(listener.contact_address))
    return bs, batches, done, listener


async def wait_until(condition, timeout: float = 10.0) -> None:
    deadline = asyncio.get_running_loop().time() + timeout
    while not condition():
        assert asyncio.get_running_loop().time() < deadline, "timed out"
        await asyncio.sleep(0.005)


def test_batched_send_coalesces():
    async def main():
        bs, batches, done, listener = await batched_pair("1s")
        for i in range(100):  # all before the sender runs: one write
            bs.send({"i": i})
        await wait_until(lambda: bs.batch_count == 1)
        for i in range(100, 110):  # spread over the interval that follows that write: one more
            bs.send({"i": i})
            await asyncio.sleep(0.001)
        await wait_until(lambda: bs.message_count == 110)
        assert bs.batch_count == 2
        await bs.close()
        await done
        assert [len(b) for b in batches] == [100, 10]
        assert [m["i"] for b in batches for m in b] == list(range(110))
        await listener.stop()

    run(main())


def test_batched_send_drops_only_a_message_it_cannot_encode_and_goes_on(caplog):
    async def main():
        bs, batches, done, listener = await batched_pair("10ms")
        bs.send({"op": "a", "i": 0}, {"op": "bad", "key": "k-1", "x": object()}, {"op": "a", "i": 1})
        for _ in range(300):
            if sum(map(len, batches)) >= 2:
                break
            await asyncio.sleep(0.01)
        bs.send({"op": "a", "i": 2})  # and the sender still works
        await asyncio.sleep(0.1)
        await bs.close()
        await done
        assert [m["i"] for b in batches for m in b] == [0, 1, 2]
        await listener.stop()

    with caplog.at_level(logging.ERROR, logger="shoal.distributed.batched"):
        run(main())
    assert "dropped a message that cannot be sent (op 'bad', key 'k-1')" in caplog.text


def test_a_lone_surrogate_travels_as_it_is():
    from shoal.distributed.protocol import dumps, loads
    from shoal.distributed.taskcolumns import pack_task_rows, unpack_task_rows
    from shoal.events import TaskTransition, row_of

    msg = {"key": "k\udc80", "text": "bad \udc80 bytes", "t": ("x\ud800", 1)}
    assert loads(dumps(msg)) == msg
    rows = unpack_task_rows(pack_task_rows([row_of(TaskTransition(
        "g", "k\udc80", "k", "processing", "erred", exception="E: \udc80"))]))
    assert rows.columns["key"] == ["k\udc80"] and rows.columns["exception"] == ["E: \udc80"]


def test_batched_send_can_wait_messages_wait_for_company_and_urgent_ones_take_them():
    async def until(cond):
        for _ in range(500):
            if cond():
                return
            await asyncio.sleep(0.01)
        raise AssertionError("condition not reached in 5 s")

    async def main():
        bs, batches, done, listener = await batched_pair("1s")
        bs.send({"i": 0})  # urgent, quiet stream: at once
        await until(lambda: batches == [[{"i": 0}]])
        bs.send({"i": 1}, can_wait=True)
        bs.send({"i": 2}, can_wait=True)
        await asyncio.sleep(0.05)
        assert len(batches) == 1  # waiting for the interval
        bs.send({"i": 3})  # urgent: takes the waiting ones along, at once
        await until(lambda: len(batches) == 2)
        assert batches[1] == [{"i": 1}, {"i": 2}, {"i": 3}]
        loop = asyncio.get_running_loop()
        sent = loop.time()
        bs.send({"i": 4}, can_wait=True)  # alone, it still goes once the interval has passed
        await until(lambda: len(batches) == 3)
        assert batches[2] == [{"i": 4}] and loop.time() - sent > 0.9
        await bs.close()
        await done
        await listener.stop()

    run(main())


def test_batched_send_flushes_on_close():
    async def main():
        bs, batches, done, listener = await batched_pair("10s")
        bs.send({"first": 1})
        await asyncio.sleep(0.02)  # first write goes out at once
        bs.send({"a": 1}, {"b": 2})  # would wait 10 s for the interval
        await bs.close()
        await done
        assert batches == [[{"first": 1}], [{"a": 1}, {"b": 2}]]
        with pytest.raises(CommClosedError):
            bs.send({"late": 1})
        await listener.stop()
        assert asyncio.all_tasks() == {asyncio.current_task()}

    run(main())


def test_batched_send_on_write_adds_to_each_batch_and_a_failing_one_loses_only_itself(caplog):
    async def main():
        bs, batches, done, listener = await batched_pair("10ms")
        calls = []

        def lead(batch):  # (a worker puts its packed task rows first this way)
            calls.append(len(batch))
            if len(calls) == 2:
                raise RuntimeError("packing failed")
            batch.insert(0, {"lead": len(calls)})

        bs.on_write = lead
        bs.send({"i": 0}, {"i": 1})
        await asyncio.sleep(0.05)
        bs.send({"i": 2})
        await asyncio.sleep(0.05)
        bs.send({"i": 3})
        await bs.close()
        await done
        assert batches == [[{"lead": 1}, {"i": 0}, {"i": 1}], [{"i": 2}], [{"lead": 3}, {"i": 3}]]
        assert calls == [2, 1, 1]
        assert "on_write failed" in caplog.text
        await listener.stop()

    run(main())


class BrokenComm:
    """A comm whose every write finds the connection gone."""

    peer_address = "tcp://gone:1"
    writes = 0

    def closed(self):
        return False

    async def write(self, msg):
        self.writes += 1
        raise CommClosedError("connection lost")

    async def close(self):
        pass

    def abort(self):
        pass


def test_batched_send_keeps_unsent_messages_when_the_comm_breaks(caplog):
    async def main():
        bs = BatchedSend(interval="1ms")
        bs.start(BrokenComm())
        bs.send({"lost": 1}, {"lost": 2})
        await asyncio.sleep(0.05)
        assert bs.comm.writes == 1 and bs.batch_count == 0
        assert bs.buffer == [{"lost": 1}, {"lost": 2}]
        with pytest.raises(CommClosedError):
            bs.send({"more": 1})
        await bs.close()
        assert asyncio.all_tasks() == {asyncio.current_task()}

    with caplog.at_level(logging.INFO, logger="shoal.distributed"):
        run(main())
    assert any("stopped" in r.getMessage() for r in caplog.records)
