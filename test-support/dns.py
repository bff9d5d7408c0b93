"""The test network's DNS server: answers A queries from a zone file, with the
record's own TTL, as the VPC's resolver answers from the stack's private zone.

Usage: dns.py ADDRESS ZONE_FILE, where ZONE_FILE holds JSON
{"name.": {"ip": "198.18.0.10", "ttl": 5}}; it is read again for every query, so
the test moves a record by rewriting the file. Other names get NXDOMAIN; other types
of a known name get an empty answer.
"""

import json
import socket
import struct
import sys

A, IN = 1, 1


def question(packet):
    labels, at = [], 12
    while packet[at]:
        length = packet[at]
        labels.append(packet[at + 1:at + 1 + length].decode("ascii").lower())
        at += 1 + length
    qtype, qclass = struct.unpack("!HH", packet[at + 1:at + 5])
    return ".".join(labels) + ".", qtype, qclass, at + 5


def answer(packet, zone):
    (ident, flags) = struct.unpack("!HH", packet[:4])
    name, qtype, qclass, end = question(packet)
    entry = zone.get(name)
    rcode = 0 if entry else 3
    answers = b""
    if entry and qtype == A and qclass == IN:
        answers = struct.pack("!HHHIH", 0xC00C, A, IN, entry["ttl"], 4)
        answers += socket.inet_aton(entry["ip"])
    header = struct.pack("!HHHHHH", ident, 0x8180 | (flags & 0x0100) | rcode, 1,
                         1 if answers else 0, 0, 0)
    return header + packet[12:end] + answers


def main():
    address, zone_file = sys.argv[1:]
    server = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    server.bind((address, 53))
    print("ready", flush=True)
    while True:
        packet, client = server.recvfrom(512)
        try:
            with open(zone_file) as f:
                zone = json.load(f)
            server.sendto(answer(packet, zone), client)
        except (ValueError, IndexError, struct.error, OSError) as e:
            print(f"bad query from {client}: {e}", file=sys.stderr, flush=True)


main()
