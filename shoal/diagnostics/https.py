"""HTTPS for the dashboard's pages: ``distributed.dashboard.tls`` as an SSL context.

Dask's ``distributed.scheduler.dashboard.tls`` (the same three settings) is read
when shoal's is unset, so a Dask user's configuration serves HTTPS here too.

``cert`` (PEM) and ``key`` (unless ``cert`` holds both) make the dashboard serve
HTTPS; ``ca-file`` also asks every browser for a certificate that CA signed (mutual
TLS, the one login the dashboard has).  The parent process checks the files before
it spawns the dashboard (:class:`shoal.diagnostics.dashboard.DashboardProcess`) and
the dashboard process builds the same context to serve with, so a wrong setting is
an error naming it, not a child that dies.
"""

from __future__ import annotations

import os
import ssl

from shoal import config

__all__ = ["https_context"]

#: where the settings are read: shoal's key, else Dask's (a Dask user's config works as it is)
TLS_SETTINGS = ("distributed.dashboard.tls", "distributed.scheduler.dashboard.tls")


def _settings() -> tuple:
    """``(name, value)`` of the first of :data:`TLS_SETTINGS` with something set."""
    for name in TLS_SETTINGS:
        tls = config.get(name, None)
        if tls and (not isinstance(tls, dict) or any(tls.values())):
            return name, tls
    return TLS_SETTINGS[0], {}


def https_context() -> ssl.SSLContext | None:
    """The server side of ``distributed.dashboard.tls`` (``cert``, ``key``,
    ``ca-file``; else Dask's key), or None to serve plain HTTP.  Raises ValueError
    naming the setting and the file when a file is missing or is not what the setting
    says."""
    setting, tls = _settings()
    if not isinstance(tls, dict):
        raise ValueError(f"{setting}: expected the settings cert, key and ca-file "
                         f"(file paths), not {tls!r}")  # fmt: skip
    cert, key, ca_file = (tls.get(name) for name in ("cert", "key", "ca-file"))
    for name, path in (("cert", cert), ("key", key), ("ca-file", ca_file)):
        if path and not isinstance(path, (str, os.PathLike)):
            raise ValueError(f"{setting}.{name}: expected a file path, not {path!r}")
    if not cert:
        if key or ca_file:
            given = "key" if key else "ca-file"
            raise ValueError(f"{setting}.{given} is set but {setting}.cert is not: "
                             f"the dashboard needs a certificate to serve HTTPS")  # fmt: skip
        return None
    for name, path in (("cert", cert), ("key", key), ("ca-file", ca_file)):
        if path and not os.path.isfile(path):
            raise ValueError(f"{setting}.{name}: no such file: {path!r}")
    def encrypted():  # (without it OpenSSL asks for the password on the terminal)
        raise ValueError(f"{setting}.key: the private key in {key or cert!r} is "
                         f"encrypted; the dashboard takes none that needs a password")  # fmt: skip

    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    try:
        context.load_cert_chain(cert, key or None, password=encrypted)
    except (ssl.SSLError, OSError) as exc:
        files = f"{cert!r} and {key!r}" if key else repr(cert)
        raise ValueError(f"{setting}.cert / .key: cannot load a certificate and its "
                         f"private key from {files}: {exc}") from None  # fmt: skip
    if ca_file:
        try:
            context.load_verify_locations(cafile=ca_file)
        except (ssl.SSLError, OSError) as exc:
            raise ValueError(f"{setting}.ca-file: not a CA certificate file: "
                             f"{ca_file!r}: {exc}") from None  # fmt: skip
        context.verify_mode = ssl.CERT_REQUIRED  # a browser shows a certificate that CA signed
    return context
