"""TLS settings for comms: who we are (a certificate per role) and whom we trust (a CA).

A :class:`Security` holds file paths, never key material in memory, so it can
be pickled to a worker process.  ``tls://`` connections always verify the
peer's certificate against ``tls_ca_file`` *in both directions* (mutual TLS);
that cannot be turned off.  Host names are not checked: a certificate signed by
the cluster's CA is the identity.  TLS 1.2 is the minimum.

Roles pick the certificate: ``"client"``, ``"scheduler"``, ``"worker"``
(a nanny uses the worker's).  A cert file may also hold its key (then leave
the ``*_key`` argument out).

``Security.temporary()`` makes a throwaway CA and one certificate for all roles
(needs the ``cryptography`` package), written to a private (0700) temporary
directory that is removed when the object is closed or garbage collected, or at
interpreter exit.  It requires encryption by default.
"""

from __future__ import annotations

import datetime
import ipaddress
import os
import shutil
import ssl
import tempfile
import weakref

from shoal import config

__all__ = ["Security"]

_ROLES = ("client", "scheduler", "worker")
_ROLE_ALIASES = {"nanny": "worker"}


class Security:
    """Certificates and the require-encryption switch for ``tls://`` comms."""

    def __init__(
        self,
        tls_ca_file: str | None = None,
        tls_client_cert: str | None = None,
        tls_client_key: str | None = None,
        tls_scheduler_cert: str | None = None,
        tls_scheduler_key: str | None = None,
        tls_worker_cert: str | None = None,
        tls_worker_key: str | None = None,
        require_encryption: bool | None = None,
        tls_ciphers: str | None = None,
    ):
        self.tls_ca_file = tls_ca_file
        self.tls_client_cert, self.tls_client_key = tls_client_cert, tls_client_key
        self.tls_scheduler_cert, self.tls_scheduler_key = tls_scheduler_cert, tls_scheduler_key
        self.tls_worker_cert, self.tls_worker_key = tls_worker_cert, tls_worker_key
        if require_encryption is None:
            require_encryption = config.get("distributed.comm.require-encryption")
        self.require_encryption = bool(require_encryption)
        self.tls_ciphers = tls_ciphers
        self._contexts: dict = {}
        self._tempdir: str | None = None
        self._finalizer = None

    # --- contexts ---

    def cert_for(self, role: str) -> tuple[str | None, str | None]:
        """``(cert file, key file)`` for ``role``."""
        role = _ROLE_ALIASES.get(role, role)
        if role not in _ROLES:
            raise ValueError(f"unknown TLS role {role!r}; expected one of {', '.join(_ROLES)}")
        return getattr(self, f"tls_{role}_cert"), getattr(self, f"tls_{role}_key")

    def get_tls_context(self, role: str, *, server_side: bool) -> ssl.SSLContext:
        """An ``SSLContext`` for ``role``: our cert presented, the peer's required."""
        cached = self._contexts.get((role, server_side))
        if cached is not None:
            return cached
        cert, key = self.cert_for(role)
        if not self.tls_ca_file:
            raise ValueError("tls:// needs Security(tls_ca_file=...) to verify peers")
        if not cert:
            raise ValueError(
                f"tls:// as {role!r} needs a certificate: Security(tls_{role}_cert=..., "
                f"tls_{role}_key=...); peers always verify each other"
            )
        purpose = ssl.Purpose.CLIENT_AUTH if server_side else ssl.Purpose.SERVER_AUTH
        ctx = ssl.create_default_context(purpose, cafile=self.tls_ca_file)
        ctx.check_hostname = False  # identity = signed by the cluster's CA
        ctx.verify_mode = ssl.CERT_REQUIRED
        ctx.minimum_version = ssl.TLSVersion.TLSv1_2
        ctx.load_cert_chain(cert, key)
        if self.tls_ciphers:
            ctx.set_ciphers(self.tls_ciphers)
        self._contexts[(role, server_side)] = ctx
        return ctx

    # --- throwaway certificates ---

    @classmethod
    def temporary(cls, require_encryption: bool = True, **kwargs) -> Security:
        """A Security with a fresh CA and certificate for every role (needs ``cryptography``)."""
        try:
            from cryptography import x509  # noqa: F401
        except ImportError:  # pragma: no cover - exercised only without the package
            raise ImportError(
                "Security.temporary() needs the 'cryptography' package: pip install cryptography"
            ) from None
        directory = tempfile.mkdtemp(prefix="shoal-tls-")  # mode 0700
        try:
            ca, cert, key = _write_throwaway_certs(directory)
        except BaseException:
            shutil.rmtree(directory, ignore_errors=True)
            raise
        sec = cls(
            tls_ca_file=ca,
            tls_client_cert=cert, tls_client_key=key,
            tls_scheduler_cert=cert, tls_scheduler_key=key,
            tls_worker_cert=cert, tls_worker_key=key,
            require_encryption=require_encryption,
            **kwargs,
        )  # fmt: skip
        sec._tempdir = directory
        sec._finalizer = weakref.finalize(sec, shutil.rmtree, directory, True)
        return sec

    def close(self) -> None:
        """Remove the temporary certificates (only those made by :meth:`temporary`)."""
        if self._finalizer is not None:
            self._finalizer()

    # --- plumbing ---

    def __getstate__(self):
        state = dict(self.__dict__)
        state.update(_contexts={}, _finalizer=None, _tempdir=None)  # the owner cleans up
        return state

    def __repr__(self):
        fields = [f"{k}={v!r}" for k, v in vars(self).items() if k.startswith("tls_") and v]
        fields.append(f"require_encryption={self.require_encryption}")
        return f"Security({', '.join(fields)})"


def _write_throwaway_certs(directory: str) -> tuple[str, str, str]:
    """Write ca.pem, cert.pem and key.pem (EC P-256, valid 30 days) into ``directory``."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

    now = datetime.datetime.now(datetime.timezone.utc)

    def build(subject, issuer, public_key, signing_key, *, ca: bool):
        builder = (
            x509.CertificateBuilder()
            .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, subject)]))
            .issuer_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, issuer)]))
            .public_key(public_key)
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(minutes=5))
            .not_valid_after(now + datetime.timedelta(days=30))
            .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True)
        )
        if ca:
            usage = dict(key_cert_sign=True, crl_sign=True, digital_signature=False)
        else:
            usage = dict(key_cert_sign=False, crl_sign=False, digital_signature=True)
            builder = builder.add_extension(
                x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH, ExtendedKeyUsageOID.CLIENT_AUTH]),
                critical=False,
            ).add_extension(
                x509.SubjectAlternativeName([
                    x509.DNSName("localhost"),
                    x509.IPAddress(ipaddress.ip_address("127.0.0.1")),
                    x509.IPAddress(ipaddress.ip_address("::1")),
                ]),
                critical=False,
            )  # fmt: skip
        builder = builder.add_extension(
            x509.KeyUsage(
                content_commitment=False, key_encipherment=False, data_encipherment=False,
                key_agreement=False, encipher_only=False, decipher_only=False, **usage,
            ),
            critical=True,
        )  # fmt: skip
        return builder.sign(signing_key, hashes.SHA256())

    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_cert = build("shoal temporary CA", "shoal temporary CA", ca_key.public_key(), ca_key, ca=True)
    key = ec.generate_private_key(ec.SECP256R1())
    cert = build("shoal", "shoal temporary CA", key.public_key(), ca_key, ca=False)

    pem = serialization.Encoding.PEM
    paths = [os.path.join(directory, name) for name in ("ca.pem", "cert.pem", "key.pem")]
    contents = [
        ca_cert.public_bytes(pem),
        cert.public_bytes(pem),
        key.private_bytes(pem, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()),
    ]
    for path, data in zip(paths, contents):
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "wb") as f:
            f.write(data)
    return tuple(paths)
