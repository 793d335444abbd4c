"""Send one TCP SYN from a chosen source port and say what came back (B10 tests).

Run inside a lab namespace (``ip netns exec <ns> python3 synprobe.py DST DPORT SPORT``):
a raw socket sends the SYN with the namespace's own address as its source, so a
port that a daemon of the namespace listens on (the master's 4505) can still be
the source port, which a connecting socket could not bind. Prints ``synack``
(something accepted the connection), ``rst`` (refused) or ``none`` (dropped).
"""

import random
import socket
import struct
import sys
import time

SYN, RST, ACK = 0x02, 0x04, 0x10


def checksum(data):
    if len(data) % 2:
        data += b"\0"
    total = sum(struct.unpack(f"!{len(data) // 2}H", data))
    total = (total >> 16) + (total & 0xFFFF)
    total += total >> 16
    return ~total & 0xFFFF


def syn(src, dst, sport, dport, seq):
    header = struct.pack("!HHIIBBHHH", sport, dport, seq, 0, 5 << 4, SYN, 64240, 0, 0)
    pseudo = socket.inet_aton(src) + socket.inet_aton(dst) + struct.pack("!BBH", 0, socket.IPPROTO_TCP, 20)
    return header[:16] + struct.pack("!H", checksum(pseudo + header)) + header[18:]


def source_for(dst):
    probe = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    probe.connect((dst, 9))
    return probe.getsockname()[0]


def probe(dst, dport, sport, wait=3.0):
    src = source_for(dst)
    sock = socket.socket(socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_TCP)
    sock.settimeout(0.2)
    sock.sendto(syn(src, dst, sport, dport, random.getrandbits(32)), (dst, 0))
    deadline = time.monotonic() + wait
    while time.monotonic() < deadline:
        try:
            packet, (sender, _port) = sock.recvfrom(65535)
        except TimeoutError:
            continue
        ihl = (packet[0] & 0x0F) * 4
        their_port, our_port, _seq, _ack, _off, flags = struct.unpack("!HHIIBB", packet[ihl : ihl + 14])
        if sender == dst and (their_port, our_port) == (dport, sport):
            if flags & (SYN | ACK) == SYN | ACK:
                return "synack"
            if flags & RST:
                return "rst"
    return "none"


if __name__ == "__main__":
    print(probe(sys.argv[1], int(sys.argv[2]), int(sys.argv[3])))
