#!/usr/bin/env python3
"""The encrypted counterpart of iperf3's limit for bench/transfer.sh: FILE sent once over one
TLS 1.3 connection on 127.0.0.1 (OpenSSL through Python's ssl module, AES-GCM on CPUs with AES
instructions), memory to memory: no hashing, no disk, nothing else. Two processes, as for a
real transfer. Prints `SECONDS BYTES CIPHER`.

Usage: tls_stream.py FILE CERT KEY
"""
import os
import socket
import ssl
import sys
import time

CHUNK = 1 << 20


def main():
    path, cert, key = sys.argv[1:4]
    with open(path, "rb") as f:
        data = f.read()
    total = len(data)
    server = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    server.minimum_version = ssl.TLSVersion.TLSv1_3
    server.load_cert_chain(cert, key)
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(1)
    port = listener.getsockname()[1]
    child = os.fork()
    if child == 0:  # the receiver
        conn = server.wrap_socket(listener.accept()[0], server_side=True)
        buf, got = bytearray(CHUNK), 0
        while got < total:
            n = conn.recv_into(buf)
            if not n:
                break
            got += n
        conn.sendall(b"k")  # every byte arrived
        conn.close()
        os._exit(0 if got == total else 1)
    client = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    client.check_hostname = False
    client.verify_mode = ssl.CERT_NONE  # loopback reference only: nothing to authenticate
    conn = client.wrap_socket(socket.create_connection(("127.0.0.1", port)))
    view = memoryview(data)
    t0 = time.monotonic()
    for i in range(0, total, CHUNK):
        conn.sendall(view[i : i + CHUNK])
    ok = conn.recv(1) == b"k"
    seconds = time.monotonic() - t0
    _, status = os.waitpid(child, 0)
    if not ok or status != 0:
        sys.exit("the receiver did not get every byte")
    print(f"{seconds:.3f} {total} {conn.cipher()[0]}")


if __name__ == "__main__":
    main()
