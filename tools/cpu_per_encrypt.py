#!/usr/bin/env python3
"""CPU time the nodes of a local region spend per Encrypt.

Usage: tools/cpu_per_encrypt.py TRENT_BINARY [REQUESTS] [CLIENTS]

Starts `trent up` (one region, 3 nodes, loopback, in a temporary directory), creates a key,
warms up, then sends REQUESTS Encrypt calls (default 4000) from CLIENTS threads (default 4)
to node 1 with botocore (the AWS SDK core, SigV4). It reads the nodes' user+system CPU time
from /proc/<pid>/stat before and after, and the same over an idle interval of the same length,
and prints CPU microseconds per Encrypt (raw, and with the idle cost taken out). Compare two
binaries as a ratio, run in the same machine state.
"""
import json, os, signal, subprocess, sys, tempfile, threading, time

import botocore.session
from botocore.config import Config

TICK = os.sysconf("SC_CLK_TCK")


def cpu_seconds(pids):
    total = 0
    for pid in pids:
        with open(f"/proc/{pid}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
        total += int(fields[11]) + int(fields[12])  # utime, stime
    return total / TICK


def children(pid):
    out = subprocess.run(["pgrep", "-P", str(pid)], capture_output=True, text=True).stdout
    return [int(p) for p in out.split()]


def main():
    binary = sys.argv[1]
    requests = int(sys.argv[2]) if len(sys.argv) > 2 else 4000
    clients = int(sys.argv[3]) if len(sys.argv) > 3 else 4
    data = tempfile.mkdtemp(prefix="trent-cpu-")
    env = dict(os.environ, TRENT_REGIONS="us-east-1", TRENT_NODES_PER_REGION="3", RUST_LOG="warn")
    up = subprocess.Popen([binary, "up", "--data-dir", data], env=env,
                          stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        for _ in range(600):
            if os.path.exists(os.path.join(data, "cluster.json")):
                break
            time.sleep(0.1)
        else:
            sys.exit("the cluster did not start")
        nodes = children(up.pid)
        session = botocore.session.get_session()
        session.set_credentials("test", "test")
        def client():
            return session.create_client(
                "kms", region_name="us-east-1", endpoint_url="http://127.0.0.1:8101",
                config=Config(retries={"max_attempts": 1}))
        kms = client()
        key = kms.create_key()["KeyMetadata"]["KeyId"]
        def drive(n):
            c = client()
            for _ in range(n):
                c.encrypt(KeyId=key, Plaintext=b"x" * 64, EncryptionContext={"app": "bench"})
        drive(200)  # warm-up
        per = requests // clients
        threads = [threading.Thread(target=drive, args=(per,)) for _ in range(clients)]
        before, start = cpu_seconds(nodes), time.monotonic()
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        wall = time.monotonic() - start
        busy = cpu_seconds(nodes) - before
        idle_before = cpu_seconds(nodes)
        time.sleep(wall)
        idle = cpu_seconds(nodes) - idle_before
        done = per * clients
        print(json.dumps({
            "encrypts": done, "clients": clients, "wall_s": round(wall, 2),
            "node_cpu_s": round(busy, 2), "idle_cpu_s_same_wall": round(idle, 2),
            "cpu_us_per_encrypt": round(busy / done * 1e6, 1),
            "cpu_us_per_encrypt_minus_idle": round((busy - idle) / done * 1e6, 1),
        }))
    finally:
        up.send_signal(signal.SIGINT)
        try:
            up.wait(timeout=20)
        except subprocess.TimeoutExpired:
            up.kill()


if __name__ == "__main__":
    main()
