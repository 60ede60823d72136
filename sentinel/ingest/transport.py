"""The network layer under the feed fetcher: a hard deadline per attempt and an address guard.

httpx's timeouts are per socket operation: a read timeout restarts on every byte, so a server
that drips its status line one byte every few seconds never trips it. Here every socket
operation (DNS lookup, connect, TLS handshake, each read and write) gets at most what is left
of the attempt's deadline, set per thread by :func:`attempt_deadline`; when it is used up the
operation raises :class:`AttemptDeadline`, whatever the phase (connect, headers or body).

The same layer resolves each host itself and connects only to an address the
:class:`AddressPolicy` allows: loopback, private, link-local, multicast and other non-public
addresses are refused unless a configured network lists them. The check is made on the address
actually connected to, for every connection, so a redirect (or a DNS answer that changes between
two lookups) cannot lead past it. Proxy variables are not used for feeds: a proxy would connect
on Sentinel's behalf, out of the guard's sight.

httpx has no public hook for its network backend; :func:`guarded_transport` builds the
transport's httpcore pool with this one (tests fetch through it, so a change in httpx shows).
"""

from __future__ import annotations

import ipaddress
import select
import socket
import ssl
import threading
import time
from collections.abc import Iterable, Iterator
from concurrent.futures import ThreadPoolExecutor
from concurrent.futures import TimeoutError as FutureTimeout
from contextlib import contextmanager
from dataclasses import dataclass
from functools import partial
from typing import Any

import httpcore
import httpx

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
# a resolved address to try: (family, type, proto, sockaddr, ip, why it is refused or None)
Candidate = tuple[int, int, int, Any, IPAddress, str | None]
IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network

_local = threading.local()
_resolver = ThreadPoolExecutor(max_workers=8, thread_name_prefix="resolve")


class AttemptDeadline(Exception):  # noqa: N818 - reads as what happened
    """The attempt's deadline passed during a socket operation."""


class AddressRefused(Exception):  # noqa: N818
    """The destination is an internal address that no configured network allows."""


@contextmanager
def attempt_deadline(seconds: float) -> Iterator[None]:
    """Every socket operation of this thread inside the block ends ``seconds`` from now."""
    previous = getattr(_local, "deadline", None)
    _local.deadline = time.monotonic() + seconds
    try:
        yield
    finally:
        _local.deadline = previous


def _budget(timeout: float | None) -> tuple[float | None, bool]:
    """(timeout to use, whether the deadline is what limits it); raises when nothing is left."""
    deadline = getattr(_local, "deadline", None)
    if deadline is None:
        return timeout, False
    left = deadline - time.monotonic()
    if left <= 0:
        raise AttemptDeadline()
    if timeout is None or left < timeout:
        return left, True
    return timeout, False


@dataclass(frozen=True)
class AddressPolicy:
    """Which destinations feeds may reach: every public address, plus ``allowed`` networks."""

    allowed: tuple[IPNetwork, ...] = ()

    @classmethod
    def from_strings(cls, networks: Iterable[str]) -> AddressPolicy:
        return cls(tuple(ipaddress.ip_network(n.strip(), strict=False) for n in networks))

    def refusal(self, address: IPAddress) -> str | None:
        """Why ``address`` may not be reached (None: it may)."""
        if any(address in network for network in self.allowed):
            return None
        if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped:
            return self.refusal(address.ipv4_mapped)
        for kind in ("unspecified", "loopback", "link_local", "private", "multicast",
                     "reserved"):
            if getattr(address, f"is_{kind}"):
                return f"a {kind.replace('_', '-')} address"
        if not address.is_global:
            return "not a public address"
        return None


def _resolve(host: str, port: int, timeout: float | None) -> list[tuple[Any, ...]]:
    """getaddrinfo with a time limit (the C call itself has none)."""
    try:
        literal = ipaddress.ip_address(host.strip("[]"))
    except ValueError:
        literal = None
    if literal is not None:
        family = socket.AF_INET6 if literal.version == 6 else socket.AF_INET
        return [(family, socket.SOCK_STREAM, 0, "", (str(literal), port))]
    lookup = _resolver.submit(socket.getaddrinfo, host, port, 0, socket.SOCK_STREAM)
    try:
        return lookup.result(timeout=timeout)
    except FutureTimeout:
        raise TimeoutError(f"DNS lookup of {host} took longer than {timeout:g}s") from None
    except socket.gaierror as exc:
        raise httpcore.ConnectError(f"cannot resolve {host}: {exc.strerror}") from None


class DeadlineStream(httpcore.NetworkStream):
    """A socket whose every read, write and TLS handshake ends by the attempt's deadline."""

    def __init__(self, sock: socket.socket) -> None:
        self._sock = sock

    def _io(self, operation: Any, timeout: float | None, timed_out: type[Exception],
            failed: type[Exception]) -> Any:
        budget, capped = _budget(timeout)
        try:
            self._sock.settimeout(budget)
            return operation()
        except TimeoutError:
            if capped:
                raise AttemptDeadline() from None
            raise timed_out("timed out") from None
        except OSError as exc:
            raise failed(str(exc)) from exc

    def read(self, max_bytes: int, timeout: float | None = None) -> bytes:
        return self._io(lambda: self._sock.recv(max_bytes), timeout, httpcore.ReadTimeout,
                        httpcore.ReadError)

    def write(self, buffer: bytes, timeout: float | None = None) -> None:
        view = memoryview(buffer)
        while view:
            sent = self._io(partial(self._sock.send, view), timeout, httpcore.WriteTimeout,
                            httpcore.WriteError)
            view = view[sent:]

    def close(self) -> None:
        self._sock.close()

    def start_tls(self, ssl_context: Any, server_hostname: str | None = None,
                  timeout: float | None = None) -> httpcore.NetworkStream:
        try:
            wrapped = self._io(lambda: ssl_context.wrap_socket(
                self._sock, server_hostname=server_hostname), timeout, httpcore.ConnectTimeout,
                httpcore.ConnectError)
        except BaseException:
            self._sock.close()
            raise
        return DeadlineStream(wrapped)

    def get_extra_info(self, info: str) -> Any:
        if info == "ssl_object" and isinstance(self._sock, ssl.SSLSocket):
            # what httpcore's own stream returns (a private attribute, hence not in the stubs)
            return self._sock._sslobj  # type: ignore[attr-defined]  # noqa: SLF001
        if info == "client_addr":
            return self._sock.getsockname()
        if info == "server_addr":
            return self._sock.getpeername()
        if info == "socket":
            return self._sock
        if info == "is_readable":  # an idle pooled connection that is readable was closed
            try:
                readable, _, _ = select.select([self._sock], [], [], 0)
            except (OSError, ValueError):
                return True
            return bool(readable)
        return None


class GuardedBackend(httpcore.NetworkBackend):
    """Resolve, check the address against the policy, connect with the deadline."""

    def __init__(self, policy: AddressPolicy) -> None:
        self.policy = policy

    def connect_tcp(self, host: str, port: int, timeout: float | None = None,
                    local_address: str | None = None,
                    socket_options: Iterable[Any] | None = None) -> httpcore.NetworkStream:
        budget, capped = _budget(timeout)
        started = time.monotonic()
        try:
            candidates = _resolve(host, port, budget)
        except TimeoutError:
            if capped:
                raise AttemptDeadline() from None
            raise httpcore.ConnectTimeout(f"DNS lookup of {host} timed out") from None
        allowed: list[Candidate] = []
        refused: list[Candidate] = []
        for family, kind, proto, _, address in candidates:
            ip = ipaddress.ip_address(address[0].split("%", 1)[0])
            reason = self.policy.refusal(ip)
            (refused if reason else allowed).append((family, kind, proto, address, ip, reason))
        if not allowed:
            _, _, _, _, ip, reason = refused[0]
            shown = host if host == str(ip) else f"{host} ({ip})"
            raise AddressRefused(f"refused to connect to {shown}: {reason}; feeds may reach "
                                 "internal addresses only when SENTINEL_FETCH_ALLOWED_NETWORKS "
                                 "lists them")
        error: Exception | None = None
        for family, kind, proto, address, _, _ in allowed:
            left = None if budget is None else budget - (time.monotonic() - started)
            if left is not None and left <= 0:
                break
            sock = socket.socket(family, kind, proto)
            try:
                sock.settimeout(left)
                if local_address:
                    sock.bind((local_address, 0))
                sock.connect(address)
            except OSError as exc:
                sock.close()
                error = exc
                continue
            for option in socket_options or ():
                sock.setsockopt(*option)
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            return DeadlineStream(sock)
        if capped and (error is None or isinstance(error, socket.timeout)):
            raise AttemptDeadline()
        if isinstance(error, socket.timeout):
            raise httpcore.ConnectTimeout(str(error) or "connect timed out")
        raise httpcore.ConnectError(str(error) if error else f"cannot connect to {host}")

    def sleep(self, seconds: float) -> None:
        time.sleep(seconds)


def guarded_transport(policy: AddressPolicy, limits: httpx.Limits) -> httpx.HTTPTransport:
    """An httpx transport whose connections go through :class:`GuardedBackend`."""
    transport = httpx.HTTPTransport(limits=limits, trust_env=False)
    transport._pool = httpcore.ConnectionPool(  # noqa: SLF001 - see the module docstring
        ssl_context=httpx.create_ssl_context(trust_env=False),
        max_connections=limits.max_connections,
        max_keepalive_connections=limits.max_keepalive_connections,
        keepalive_expiry=limits.keepalive_expiry,
        network_backend=GuardedBackend(policy),
    )
    return transport
