#!/usr/bin/env python3
"""A minimal chat client written from docs/PROTOCOL.md alone, with no Rust code.

Usage: minimal_client.py [--trust FINGERPRINT | --plaintext] HOST PORT NICK ROOM TEXT

Connects over TLS (section 1), checking that the server's key is the one --trust names,
or else showing its fingerprint and asking; --plaintext speaks plain TCP to a server
started with --plaintext. Then it logs in with protocol version 4, says TEXT in ROOM as
request 1, asks for the room's members after its own nick as request 2, and prints every
frame it decodes as one line until both answers are in, then quits. The end-to-end tests
run it against the real server to show that the protocol document is enough to write a
client.
"""

import hashlib
import socket
import ssl
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


def strings(items):
    return varint(len(items)) + b"".join(string(s) for s in items)


def frame(payload):
    return struct.pack(">I", len(payload)) + payload


def request(request_id, msg):
    """A client message with a request id (section 11): Request, variant 19."""
    return varint(19) + varint(request_id) + msg


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

    def varint(self, width=8):
        """A varint of a field `width` bytes wide: 2 (u16), 4 (u32, indexes) or 8 (u64)."""
        first = self.take(1)[0]
        if first < 251:
            return first
        size = {251: 2, 252: 4, 253: 8}.get(first)
        if size is None or size > width:
            raise ValueError("bad varint marker %d" % first)
        return int.from_bytes(self.take(size), "little")

    def index(self):
        return self.varint(4)

    def boolean(self):
        b = self.take(1)[0]
        if b > 1:
            raise ValueError("bad boolean %d" % b)
        return b == 1

    def string(self):
        return self.take(self.varint()).decode("utf-8")

    def strings(self):
        return [self.string() for _ in range(self.varint())]

    def raw(self):
        return self.take(self.varint())


def pick(names, i):
    if i >= len(names):
        raise ValueError("unknown variant %d" % i)
    return names[i]


CHAT_KINDS = ["Say", "Action"]
ERROR_KINDS = ["VersionMismatch", "NickTaken", "InvalidNick", "InvalidRoom", "NotLoggedIn",
               "AlreadyLoggedIn", "MalformedFrame", "FrameTooLarge", "TextTooLong",
               "NoSuchNick", "SlowConsumer", "Timeout", "ServerFull", "RateLimited",
               "Internal", "FileTooLarge", "QuotaExceeded", "DiskFull", "InvalidFileName",
               "ChecksumMismatch", "NoSuchFile", "NoSuchUpload", "BadChunk",
               "TooManyTransfers"]


def file_info(r):
    return ("FileInfo", r.varint(), r.string(), r.varint(), r.raw().hex(), r.string(),
            r.varint(), r.string())


def room_event(r):
    tag = r.index()
    if tag == 0:
        return ("Joined", r.string())
    if tag == 1:
        return ("Left", r.string(), r.string())
    if tag == 2:
        return ("Renamed", r.string(), r.string())
    if tag == 3:
        return ("Said", r.string(), pick(CHAT_KINDS, r.index()), r.string())
    if tag == 4:
        return ("Shared", file_info(r))
    raise ValueError("bad RoomEvent %d" % tag)


def limits(r):
    return {"max_frame": r.varint(4), "max_text": r.varint(4), "member_page": r.varint(4),
            "msg_rate": r.varint(4), "msg_burst": r.varint(4), "max_file_size": r.varint()}


def member_page(r):
    return (r.varint(4), r.strings(), r.boolean())


def server_msg(r, wrapped=False):
    tag = r.index()
    if tag == 0:
        return ("Welcome", r.varint(2), r.string(), r.string(), r.strings())
    if tag == 1:
        return ("Chat", r.varint(), r.varint(), r.string(), r.string(),
                pick(CHAT_KINDS, r.index()), r.string())
    if tag == 2:
        return ("Private", r.varint(), r.varint(), r.string(), r.string(), r.string())
    if tag == 3:
        return ("Notice", r.varint(), r.string(), room_event(r))
    if tag in (4, 5):
        return (["Joined", "Members"][tag - 4], r.string(), r.strings())
    if tag == 6:
        return ("NickChanged", r.string())
    if tag in (7, 8):
        return (["Ping", "Pong"][tag - 7], r.varint())
    if tag == 9:
        return ("Error", pick(ERROR_KINDS, r.index()), r.string())
    if tag == 10:
        return ("Shutdown", r.string())
    if tag == 11:
        return ("UploadReady", r.varint(), r.raw().hex(), r.varint())
    if tag == 12:
        return ("UploadDone", r.varint(), r.varint())
    if tag in (13, 19):
        return (["UploadFailed", "DownloadFailed"][tag == 19], r.varint(),
                pick(ERROR_KINDS, r.index()), r.string())
    if tag == 14:
        return ("FileOffered", file_info(r))
    if tag == 15:
        return ("Files", r.string(), [file_info(r) for _ in range(r.varint())])
    if tag == 16:
        return ("DownloadStart", file_info(r), r.varint())
    if tag == 17:
        return ("DownloadChunk", r.varint(), r.varint(), len(r.raw()))
    if tag == 18:
        return ("DownloadEnd", r.varint())
    if tag == 20:
        return ("Welcome4", r.varint(2), r.strings(), limits(r), r.string(), r.string(),
                r.varint(), member_page(r))
    if tag == 21:
        if wrapped:
            raise ValueError("a reply inside a reply")
        return ("Reply", r.varint(4), server_msg(r, wrapped=True))
    if tag == 22:
        return ("Room", r.varint(), r.varint(), r.varint(), r.string(), room_event(r))
    if tag == 23:
        return ("Joined4", r.string(), r.varint(), member_page(r))
    if tag == 24:
        return ("Members4", r.string(), member_page(r))
    raise ValueError("unknown ServerMsg %d" % tag)


def decode(payload):
    r = Reader(payload)
    msg = server_msg(r)
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
    return decode(read_exact(sock, length))


# -- the transport (PROTOCOL.md section 1) --------------------------------------------------

def der_end(der, pos):
    """Where the DER item that starts at `pos` ends, and where its contents start."""
    length, pos = der[pos + 1], pos + 2
    if length & 0x80:
        n = length & 0x7F
        length, pos = int.from_bytes(der[pos:pos + n], "big"), pos + n
    return pos + length, pos


def fingerprint(cert):
    """The SHA-256 of the certificate's SubjectPublicKeyInfo, as 16 groups of 4 hex digits."""
    _, pos = der_end(cert, 0)               # Certificate: its first item is...
    _, pos = der_end(cert, pos)             # ...tbsCertificate; inside it:
    if cert[pos] == 0xA0:                   # [0] version, when there is one,
        pos, _ = der_end(cert, pos)
    for _ in range(5):                      # serial, signature, issuer, validity, subject,
        pos, _ = der_end(cert, pos)
    spki = cert[pos:der_end(cert, pos)[0]]  # then subjectPublicKeyInfo.
    digest = hashlib.sha256(spki).hexdigest()
    return ":".join(digest[i:i + 4] for i in range(0, 64, 4))


def connect(host, port, trust, plaintext):
    sock = socket.create_connection((host, int(port)), timeout=10)
    if plaintext:
        return sock
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    context.minimum_version = ssl.TLSVersion.TLSv1_3
    # The key is pinned, not the certificate's names, dates or issuer; OpenSSL still
    # checks that the server signed the handshake with that key.
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    try:
        sock = context.wrap_socket(sock, server_hostname=host)
    except ssl.SSLError as e:
        sys.exit("the TLS handshake failed (%s); a server started with --plaintext needs "
                 "--plaintext" % e.reason)
    seen = fingerprint(sock.getpeercert(binary_form=True))
    if trust is None:
        sys.stderr.write("the server's key is %s\ntrust it? (y/n) " % seen)
        sys.stderr.flush()
        if sys.stdin.readline().strip() != "y":
            sys.exit("not trusted")
    elif trust.replace(":", "").replace(" ", "").lower() != seen.replace(":", ""):
        sys.exit("REFUSED: the server's key is %s, not %s" % (seen, trust))
    return sock


def main():
    args, trust, plaintext = sys.argv[1:], None, False
    if args[:1] == ["--trust"]:
        trust, args = args[1], args[2:]
    elif args[:1] == ["--plaintext"]:
        plaintext, args = True, args[1:]
    host, port, nick, room, text = args[:5]
    sock = connect(host, port, trust, plaintext)
    # Hello4 (variant 18): versions 4 to 4, no feature.
    sock.sendall(frame(varint(18) + varint(4) + varint(4) + strings([]) + string(nick)
                       + string(room)))
    welcome = read_frame(sock)
    print(repr(welcome), flush=True)
    if welcome[0] != "Welcome4" or welcome[1] != 4:
        sys.exit(1)
    last_seq = welcome[6]
    sock.sendall(frame(request(1, varint(1) + string(text))))    # Chat, request 1
    sock.sendall(frame(request(2, varint(20) + string(nick))))   # WhoPage, request 2
    answered = set()
    while answered != {1, 2}:
        msg = read_frame(sock)
        print(repr(msg), flush=True)
        if msg[0] == "Ping":
            sock.sendall(frame(varint(8) + varint(msg[1])))         # Pong
        if msg[0] == "Error":
            sys.exit(1)
        request_id, answer = (msg[1], msg[2]) if msg[0] == "Reply" else (None, msg)
        if answer[0] == "Error":
            sys.exit(1)
        if answer[0] == "Room":
            # Section 12: each room message is one more than the last.
            if answer[2] != last_seq + 1:
                print("missed a room message: %d after %d" % (answer[2], last_seq))
                sys.exit(1)
            last_seq = answer[2]
        if request_id == 1 and answer[0] == "Room" and answer[5] == ("Said", nick, "Say", text):
            answered.add(1)
        if request_id == 2 and answer[0] == "Members4":
            answered.add(2)
    sock.sendall(frame(varint(9) + string("done")))                # Quit
    sock.close()


if __name__ == "__main__":
    main()
