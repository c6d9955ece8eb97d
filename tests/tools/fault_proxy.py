"""A small TCP fault proxy for tests: sits between pgrelay and Postgres and, per connection or for
all of them at once, passes bytes, delays them, swallows them (a black hole), stalls after some
bytes from the server, or resets the connection after some bytes from the server or just before
the ReadyForQuery of a chosen answer; and on every open connection at once, resets it or sends
pgrelay bytes the server never sent. Threads and plain sockets; every thread is a daemon and
stop() closes every socket it opened."""

from __future__ import annotations

import socket
import struct
import threading
import time


class FaultProxy:
    MODES = ("pass", "delay", "blackhole", "stall_after", "reset_after")

    def __init__(self, target_port: int, target_host: str = "127.0.0.1"):
        self.target = (target_host, target_port)
        self.mode = "pass"
        self.delay = 0.0          # seconds, mode delay
        self.after_bytes = 0      # server→client bytes before stall_after / reset_after acts
        self.stalled = threading.Event()  # stall every open connection now (both directions)
        # One shot, on any open connection: the first server answer holding these bytes is passed
        # up to its ReadyForQuery, then the connection is reset (a server dying mid-answer).
        self.cut_before_ready: bytes | None = None
        self._listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self._listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self._listener.bind(("127.0.0.1", 0))
        self._listener.listen(128)
        self.port = self._listener.getsockname()[1]
        self._sockets: list[socket.socket] = []
        self._pairs: list[tuple[socket.socket, socket.socket]] = []  # (pgrelay's side, the server's)
        self._lock = threading.Lock()
        self._closed = False
        self.connections = 0
        threading.Thread(target=self._accept, daemon=True).start()

    def set(self, mode: str, delay: float = 0.0, after_bytes: int = 0) -> None:
        """Applies to connections accepted from now on (and delay/stall to open ones too)."""
        assert mode in self.MODES, mode
        self.mode, self.delay, self.after_bytes = mode, delay, after_bytes

    def stop(self) -> None:
        self._closed = True
        self.stalled.clear()
        with self._lock:
            for s in [self._listener, *self._sockets]:
                try:
                    s.close()
                except OSError:
                    pass

    def reset_open(self) -> int:
        """Resets every open connection now, both ways, with no word from the server (as a crash
        or a dropped link would); returns how many were still open."""
        with self._lock:
            pairs, self._pairs = self._pairs, []
        done = 0
        for client, server in pairs:
            try:
                self._reset(client, server)
                done += 1
            except OSError:
                pass  # closed already
        return done

    def inject(self, data: bytes) -> int:
        """Sends `data` to pgrelay on every open connection, as if the server had sent it
        unasked; returns on how many (connections closed since are skipped)."""
        with self._lock:
            pairs = list(self._pairs)
        done = 0
        for client, _ in pairs:
            try:
                client.sendall(data)
                done += 1
            except OSError:
                pass
        return done

    def _track(self, s: socket.socket) -> socket.socket:
        with self._lock:
            self._sockets.append(s)
        return s

    def _accept(self) -> None:
        while not self._closed:
            try:
                client, _ = self._listener.accept()
            except OSError:
                return
            self.connections += 1
            self._track(client)
            mode, after = self.mode, self.after_bytes
            if mode == "blackhole":
                threading.Thread(target=self._swallow, args=(client,), daemon=True).start()
                continue
            try:
                server = self._track(socket.create_connection(self.target, timeout=5))
                server.settimeout(None)
            except OSError:
                client.close()
                continue
            with self._lock:
                self._pairs.append((client, server))
            threading.Thread(target=self._pump, args=(client, server, None, None), daemon=True).start()
            threading.Thread(target=self._pump, args=(server, client, mode, after), daemon=True).start()

    @staticmethod
    def _reset(src: socket.socket, dst: socket.socket) -> None:
        # RST instead of FIN: SO_LINGER with a zero timeout. The other direction's thread may sit
        # in recv() on these sockets, which keeps them open past a close(): SHUT_RD wakes it
        # first (it sends nothing on the wire).
        for s in (src, dst):
            s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            s.shutdown(socket.SHUT_RD)
        for s in (src, dst):
            s.close()

    def _swallow(self, s: socket.socket) -> None:
        try:
            while s.recv(65536):
                pass
        except OSError:
            pass

    def _pump(self, src: socket.socket, dst: socket.socket, mode: str | None, after: int | None) -> None:
        sent = 0
        try:
            while True:
                data = src.recv(65536)
                if not data:
                    break
                while self.stalled.is_set() and not self._closed:
                    time.sleep(0.05)
                if self.delay:
                    time.sleep(self.delay)
                marker = self.cut_before_ready
                ready = data.find(b"Z\x00\x00\x00\x05", data.find(marker)) if mode and marker and marker in data else -1
                if ready >= 0:
                    self.cut_before_ready = None
                    dst.sendall(data[:ready])
                    self._reset(src, dst)
                    return
                if mode in ("stall_after", "reset_after") and after is not None and sent + len(data) > after:
                    keep = max(after - sent, 0)
                    if keep:
                        dst.sendall(data[:keep])
                    if mode == "reset_after":
                        self._reset(src, dst)
                        return
                    self._swallow(src)  # stall: keep the connection open, forward nothing more
                    return
                dst.sendall(data)
                sent += len(data)
        except OSError:
            pass
        finally:
            for s in (src, dst):
                try:
                    s.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass
