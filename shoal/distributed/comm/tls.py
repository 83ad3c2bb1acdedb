"""tls:// comms: the tcp:// transport inside TLS, with mutual certificate checks.

Everything in :mod:`shoal.distributed.comm.tcp` applies unchanged (handshake,
framing, limits); asyncio's ``ssl=`` support wraps the same streams, and the TLS
handshake runs under ``distributed.comm.timeouts.handshake`` before ours.  The
``SSLContext`` comes from :class:`shoal.distributed.security.Security` for the
comm's role: our certificate is presented, the peer's is required and verified
against the CA (both directions, always; host names are not checked).

A peer without an acceptable certificate never reaches the handler.  With TLS
1.3 the client learns of the refusal only when it first reads, so ``connect``
reports it as "closed the connection during the handshake; the listener may have
refused our certificate".  The listener side logs such refusals through
asyncio's logger at DEBUG only (the TLS layer fails before shoal's code runs).
"""

from __future__ import annotations

from shoal.distributed.comm.base import Backend
from shoal.distributed.comm.tcp import TCPComm, TCPConnector, TCPListener

__all__ = ["TLSBackend", "TLSComm", "TLSConnector", "TLSListener"]


def _require_security(security, where: str):
    if security is None:
        raise ValueError(
            f"{where} needs security=Security(...) with a CA and certificates "
            "(Security.temporary() makes throwaway ones)"
        )
    return security


class TLSComm(TCPComm):
    @property
    def extra_info(self) -> dict:
        info = self._writer.get_extra_info
        return {"peercert": info("peercert"), "cipher": info("cipher")}


class TLSListener(TCPListener):
    scheme = "tls"
    comm_class = TLSComm

    def _ssl_context(self):
        security = _require_security(self.security, "listening on tls://")
        return security.get_tls_context(self.role, server_side=True)


class TLSConnector(TCPConnector):
    scheme = "tls"
    comm_class = TLSComm

    def _ssl_context(self, security, role):
        return _require_security(security, "connecting to tls://").get_tls_context(role, server_side=False)


class TLSBackend(Backend):
    encrypted = True

    def get_connector(self):
        return TLSConnector()

    def get_listener(self, location, handler, **kwargs):
        return TLSListener(location, handler, **kwargs)
