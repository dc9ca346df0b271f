"""Who may connect: the loopback rule and CurveZMQ keys.

A control socket bound to loopback (or ipc://, inproc://) is reachable only from this
machine. Anything else needs CurveZMQ: the traffic is encrypted, and a ZAP handler lets
in only clients whose public key is in the authorised directory.

`python -m live control keygen DIR` lays out the keys like this:

    DIR/server.key                  server public key: give it to every client
    DIR/server.key_secret           server key pair: stays on the engine's machine
    DIR/NAME.key, DIR/NAME.key_secret        a client's key pair: copy to that client
    DIR/authorized_clients/NAME.key the client public keys the server lets in
"""
from __future__ import annotations

import ipaddress
import os
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path

import zmq
import zmq.auth
from zmq.auth.thread import ThreadAuthenticator

from live.errors import UserError

KEYGEN = "python -m live control keygen DIR"
SERVER_NAME = "server"
AUTHORIZED_DIR = "authorized_clients"
_LOCAL_TRANSPORTS = ("ipc://", "inproc://")
ZAP_DOMAIN = b"live"  # any name: set on a socket of the NULL mechanism, it turns ZAP on
Z85_KEY_LENGTH = 40


def host_of(address: str) -> str:
    """The host part of a `tcp://HOST:PORT` address (brackets of IPv6 literals removed)."""
    if not address.startswith("tcp://"):
        raise UserError(f"address {address!r} is not tcp://HOST:PORT, ipc:// or inproc://")
    host, sep, port = address[len("tcp://"):].rpartition(":")
    if not sep or not host or not port:
        raise UserError(f"address {address!r} needs a host and a port, like tcp://127.0.0.1:5555")
    if port != "*" and not (port.isdigit() and int(port) <= 65535):  # zmq takes 99999 as 34463
        raise UserError(f"address {address!r}: the port must be 0..65535 or * (any free port)")
    if "[" in host or "]" in host:  # a client waited its timeout out on tcp://[::1 and blamed the engine
        inner = host[1:-1] if host.startswith("[") and host.endswith("]") else ""
        try:
            ipaddress.IPv6Address(inner)
        except ValueError:
            raise UserError(f"address {address!r}: write an IPv6 address in brackets, like tcp://[::1]:5555") from None
        return host[1:-1]
    return host


def is_local(address: str) -> bool:
    """True if only this machine can reach `address`: a loopback tcp host, ipc or inproc."""
    return address.startswith(_LOCAL_TRANSPORTS) or is_loopback_host(host_of(address))


def is_loopback_host(host: str) -> bool:
    """True if `host` names this machine alone: localhost or a loopback address."""
    try:
        return host == "localhost" or ipaddress.ip_address(host).is_loopback
    except ValueError:  # "*", an interface name or a host name: reachable from outside
        return False


def is_ipv6(address: str) -> bool:
    return address.startswith("tcp://[")


@dataclass(frozen=True)
class ServerKeys:
    """The server's key pair and the public keys of the clients it lets in."""

    public: bytes
    secret: bytes
    authorized_clients: Path  # directory of client *.key files

    @classmethod
    def load(cls, secret_file: Path, authorized_clients: Path) -> ServerKeys:
        public, secret = _load_pair(secret_file)
        client_keys = sorted(authorized_clients.glob("*.key")) if authorized_clients.is_dir() else []
        if not client_keys:
            raise UserError(f"no client public keys (*.key) in {authorized_clients}; "
                            f"authorise a client with {KEYGEN} --client NAME")
        for key_file in client_keys:
            # pyzmq's authenticator loads no key at all if one of them fails, and only logs it:
            # every client would be refused with no word why.
            _load_public(key_file)
        return cls(public, secret, authorized_clients)

    @classmethod
    def from_directory(cls, keys_dir: Path) -> ServerKeys:
        """The server side of a directory made by `control keygen`."""
        return cls.load(keys_dir / f"{SERVER_NAME}.key_secret", keys_dir / AUTHORIZED_DIR)

    def admit(self, auth: ThreadAuthenticator) -> None:
        """Make a started ZAP handler admit only the authorised client keys; before binding,
        so that no connection is ever accepted unchecked."""
        auth.configure_curve(domain="*", location=str(self.authorized_clients))

    def apply(self, socket: zmq.Socket) -> None:
        socket.curve_secretkey = self.secret
        socket.curve_publickey = self.public
        socket.curve_server = True


def authenticator(context: zmq.Context) -> ThreadAuthenticator:
    """A ZAP handler, to start; as it is, it admits every client of the NULL mechanism
    (sockets without keys, loopback only). ZAP on is what matters: libzmq then refuses peers of
    ZMTP 1.0, which it otherwise takes without a handshake, reading any bytes as frames: the
    body of an HTTP POST to 127.0.0.1:5555, which a web page in the VJ's browser can send,
    became commands."""
    return ThreadAuthenticator(context)


@dataclass(frozen=True)
class ClientKeys:
    """A client's key pair and the public key of the server it talks to."""

    public: bytes
    secret: bytes
    server_public: bytes

    @classmethod
    def load(cls, secret_file: Path, server_key_file: Path) -> ClientKeys:
        public, secret = _load_pair(secret_file)
        server_public = _load_public(server_key_file)
        return cls(public, secret, server_public)

    def apply(self, socket: zmq.Socket) -> None:
        socket.curve_secretkey = self.secret
        socket.curve_publickey = self.public
        socket.curve_serverkey = self.server_public


def create_keys(keys_dir: Path, client: str = "client") -> list[Path]:
    """Make the server key pair (once) and a key pair for `client`, authorised; returns
    the files written. Existing keys are never overwritten."""
    if not client.isidentifier() or client == SERVER_NAME:
        raise UserError(f"client name {client!r} must be a simple name like 'vj1' (not 'server')")
    if (keys_dir / f"{client}.key").exists():
        raise UserError(f"{keys_dir / client}.key already exists; pick another --client name")
    authorized = keys_dir / AUTHORIZED_DIR
    # Written aside, then renamed into place: a disk that filled up left an empty client.key,
    # which refused the same command once there was room again (found by review).
    try:
        authorized.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryDirectory(dir=keys_dir, prefix=".keygen-") as staging:
            made = []
            # Secret keys are private from their first byte: pyzmq writes them under the umask.
            umask = os.umask(0o077)
            try:
                if not (keys_dir / f"{SERVER_NAME}.key_secret").exists():
                    made += map(Path, zmq.auth.create_certificates(staging, SERVER_NAME))
                made += map(Path, zmq.auth.create_certificates(staging, client))
            finally:
                os.umask(umask)
            listed = Path(shutil.copy(Path(staging) / f"{client}.key", Path(staging) / "authorized.key"))
            places = [(file, keys_dir / file.name) for file in made] + [(listed, authorized / f"{client}.key")]
            for file, place in places:
                os.replace(file, place)
            written = [place for _, place in places]
    except OSError as e:
        raise UserError(f"cannot write keys into {keys_dir} ({e.strerror or e}); nothing was kept: make room, "
                        "or give another folder") from None
    return written


def _load_pair(secret_file: Path) -> tuple[bytes, bytes]:
    public, secret = _read_certificate(secret_file)
    if not secret:
        raise UserError(f"{secret_file} holds no secret key; pass the *.key_secret file made by {KEYGEN}")
    return public, secret


def _load_public(key_file: Path) -> bytes:
    public, _ = _read_certificate(key_file)
    return public


def _read_certificate(path: Path) -> tuple[bytes, bytes | None]:
    if not path.exists():  # pyzmq calls a missing file an "Invalid certificate file"
        raise UserError(f"CurveZMQ key {path} does not exist; make keys with {KEYGEN}")
    try:
        public, secret = zmq.auth.load_certificate(path)
    except (OSError, ValueError) as e:
        raise UserError(f"cannot read CurveZMQ key {path}: {e}; make keys with {KEYGEN}") from None
    if len(public) != Z85_KEY_LENGTH or (secret is not None and len(secret) != Z85_KEY_LENGTH):
        raise UserError(f"{path} is not a CurveZMQ key file (keys are {Z85_KEY_LENGTH} Z85 characters); "
                        f"make keys with {KEYGEN}")
    return public, secret
