"""A database that stops answering, for the tests of what users are told during an outage.

PostgreSQL: the app's engine connects through a TCP proxy that `cut()` turns into a stopped server
(open connections are reset, new ones refused) and `restore()` brings back. SQLite has no server: while
cut, every statement fails as a database file that can't be opened does.
"""

from __future__ import annotations

import contextlib
import socket
import sqlite3
import threading
from collections.abc import Iterator

from sqlalchemy import event
from sqlalchemy.engine import Engine, make_url
from sqlalchemy.exc import OperationalError

from storage.db import make_engine


class TcpProxy:
    def __init__(self, host: str, port: int) -> None:
        self.target = (host, port)
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.port = self.listener.getsockname()[1]
        self.down = threading.Event()
        self._open: set[socket.socket] = set()
        self._lock = threading.Lock()
        threading.Thread(target=self._accept, daemon=True, name="pg-proxy").start()

    def _accept(self) -> None:
        while True:
            try:
                client, _ = self.listener.accept()
            except OSError:
                return
            if self.down.is_set():
                client.close()  # a stopped server: the connection is refused
                continue
            try:
                upstream = socket.create_connection(self.target)
            except OSError:
                client.close()
                continue
            with self._lock:
                self._open.update((client, upstream))
            for source, sink in ((client, upstream), (upstream, client)):
                threading.Thread(target=self._pipe, args=(source, sink), daemon=True).start()

    def _pipe(self, source: socket.socket, sink: socket.socket) -> None:
        try:
            while data := source.recv(65536):
                sink.sendall(data)
        except OSError:
            pass
        finally:
            for end in (source, sink):
                with contextlib.suppress(OSError):
                    end.shutdown(socket.SHUT_RDWR)
                end.close()

    def cut(self) -> None:
        self.down.set()
        with self._lock:
            ends, self._open = list(self._open), set()
        for end in ends:
            with contextlib.suppress(OSError):
                end.shutdown(socket.SHUT_RDWR)
            end.close()

    def restore(self) -> None:
        self.down.clear()

    def close(self) -> None:
        self.cut()
        self.listener.close()


class Outage:
    """`cut()` makes the database unreachable for the engine; `restore()` ends the outage."""

    def __init__(self, engine: Engine, proxy: TcpProxy | None) -> None:
        self.engine = engine
        self.proxy = proxy
        self.down = threading.Event()
        if proxy is None:
            event.listen(engine, "before_cursor_execute", self._refuse)

    def _refuse(self, conn, cursor, statement, parameters, context, executemany) -> None:
        if self.down.is_set():
            raise OperationalError(statement, parameters, sqlite3.OperationalError("unable to open database file"))

    def cut(self) -> None:
        self.down.set()
        if self.proxy is not None:
            self.proxy.cut()

    def restore(self) -> None:
        self.down.clear()
        if self.proxy is not None:
            self.proxy.restore()


@contextlib.contextmanager
def outage_of(engine: Engine) -> Iterator[Outage]:
    """An engine on the same database as `engine` whose database can be cut off (the Outage's `engine`)."""
    if engine.dialect.name == "sqlite":
        yield Outage(engine, None)
        return
    url = make_url(engine.url.render_as_string(hide_password=False))
    proxy = TcpProxy(url.host or "127.0.0.1", url.port or 5432)
    proxied = make_engine(url.set(host="127.0.0.1", port=proxy.port).render_as_string(hide_password=False))
    try:
        yield Outage(proxied, proxy)
    finally:
        proxied.dispose()
        proxy.close()
