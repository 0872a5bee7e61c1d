#!/usr/bin/env python3
"""A minimal chat client written from docs/PROTOCOL.md alone, with no Rust code.

Usage: minimal_client.py HOST PORT NICK ROOM TEXT

Connects, says hello, says TEXT in ROOM, and prints every frame it decodes as one line
until the server echoes TEXT back, then quits. The end-to-end tests run it against the
real server to show that the protocol document is enough to write a client.
"""

import socket
import struct
import sys

MAX_FRAME = 1024 * 1024


# -- encoding (PROTOCOL.md section 3) -------------------------------------------------------

def varint(v):
    if v < 251:
        return bytes([v])
    if v <= 0xFFFF:
        return b"\xfb" + struct.pack("<H", v)
    if v <= 0xFFFFFFFF:
        return b"\xfc" + struct.pack("<I", v)
    return b"\xfd" + struct.pack("<Q", v)


def string(s):
    b = s.encode("utf-8")
    return varint(len(b)) + b


def frame(payload):
    return struct.pack(">I", len(payload)) + payload


# -- decoding -------------------------------------------------------------------------------

class Reader:
    def __init__(self, data):
        self.data, self.pos = data, 0

    def take(self, n):
        if self.pos + n > len(self.data):
            raise ValueError("payload too short")
        out = self.data[self.pos:self.pos + n]
        self.pos += n
        return out

    def varint(self):
        first = self.take(1)[0]
        if first < 251:
            return first
        size = {251: 2, 252: 4, 253: 8}.get(first)
        if size is None:
            raise ValueError("bad varint marker %d" % first)
        return int.from_bytes(self.take(size), "little")

    def string(self):
        return self.take(self.varint()).decode("utf-8")

    def strings(self):
        return [self.string() for _ in range(self.varint())]


CHAT_KINDS = ["Say", "Action"]
ERROR_KINDS = ["VersionMismatch", "NickTaken", "InvalidNick", "InvalidRoom", "NotLoggedIn",
               "AlreadyLoggedIn", "MalformedFrame", "FrameTooLarge", "TextTooLong",
               "NoSuchNick", "SlowConsumer", "Timeout", "ServerFull", "RateLimited",
               "Internal", "FileTooLarge", "QuotaExceeded", "DiskFull", "InvalidFileName",
               "ChecksumMismatch", "NoSuchFile", "NoSuchUpload", "BadChunk",
               "TooManyTransfers"]


def room_event(r):
    tag = r.varint()
    if tag == 0:
        return ("Joined", r.string())
    if tag == 1:
        return ("Left", r.string(), r.string())
    if tag == 2:
        return ("Renamed", r.string(), r.string())
    raise ValueError("bad RoomEvent %d" % tag)


def server_msg(payload):
    r = Reader(payload)
    tag = r.varint()
    if tag == 0:
        msg = ("Welcome", r.varint(), r.string(), r.string(), r.strings())
    elif tag == 1:
        msg = ("Chat", r.varint(), r.varint(), r.string(), r.string(),
               CHAT_KINDS[r.varint()], r.string())
    elif tag == 2:
        msg = ("Private", r.varint(), r.varint(), r.string(), r.string(), r.string())
    elif tag == 3:
        msg = ("Notice", r.varint(), r.string(), room_event(r))
    elif tag in (4, 5):
        msg = (["Joined", "Members"][tag - 4], r.string(), r.strings())
    elif tag == 6:
        msg = ("NickChanged", r.string())
    elif tag in (7, 8):
        msg = (["Ping", "Pong"][tag - 7], r.varint())
    elif tag == 9:
        msg = ("Error", ERROR_KINDS[r.varint()], r.string())
    elif tag == 10:
        msg = ("Shutdown", r.string())
    else:
        raise ValueError("unknown ServerMsg %d" % tag)
    if r.pos != len(payload):
        raise ValueError("trailing bytes")
    return msg


def read_exact(sock, n):
    buf = b""
    while len(buf) < n:
        chunk = sock.recv(n - len(buf))
        if not chunk:
            raise EOFError("connection closed")
        buf += chunk
    return buf


def read_frame(sock):
    (length,) = struct.unpack(">I", read_exact(sock, 4))
    if length > MAX_FRAME:
        raise ValueError("frame too large")
    return server_msg(read_exact(sock, length))


def main():
    host, port, nick, room, text = sys.argv[1:6]
    sock = socket.create_connection((host, int(port)), timeout=10)
    sock.sendall(frame(varint(0) + varint(3) + string(nick) + string(room)))  # Hello
    sock.sendall(frame(varint(1) + string(text)))                             # Chat
    while True:
        msg = read_frame(sock)
        print(repr(msg), flush=True)
        if msg[0] == "Ping":
            sock.sendall(frame(varint(8) + varint(msg[1])))                   # Pong
        if msg[0] == "Error":
            sys.exit(1)
        if msg[0] == "Chat" and msg[4] == nick and msg[6] == text:
            break
    sock.sendall(frame(varint(9) + string("done")))                           # Quit
    sock.close()


if __name__ == "__main__":
    main()
