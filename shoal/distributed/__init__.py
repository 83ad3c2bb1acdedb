"""shoal's distributed runtime: a scheduler, workers and clients talking over comms.

The package is built in stages; each imports only the stages before it::

    protocol   message <-> frames: msgpack envelopes, pickled payloads as raw frames
       |
    comm       Comm / Listener / Connector ABCs; tcp://, tls://, inproc:// backends
       |
    rpc        Server (op -> handler table), rpc(address) proxies, ConnectionPool
    batched    BatchedSend: many small messages coalesced into one write
       |
    scheduler/, worker/   pure state machines: events in, instructions out (built)
    servers, client, deploy     (not yet: they will run those instructions over rpc)

``security`` (TLS settings, throwaway certificates) is a leaf used by ``comm``.

Importing ``shoal.distributed`` is cheap: the stages are imported by whoever
uses them (``from shoal.distributed.rpc import Server``).

Anything that can connect to a shoal port can make it run arbitrary Python:
listeners bind 127.0.0.1 unless told otherwise; expose them only on trusted
networks or behind TLS (``tls://`` with :class:`~shoal.distributed.security.Security`).
"""
