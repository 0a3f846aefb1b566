#!/usr/bin/env python3
"""Record real MQTT bytes between Debian's mosquitto_pub/mosquitto_sub and mosquitto.

What it does: starts /usr/sbin/mosquitto on a free 127.0.0.1 port, puts a recording TCP proxy
in front of it (also on 127.0.0.1), runs a fixed list of mosquitto_pub / mosquitto_sub scenarios
through the proxy (MQTT 3.1, 3.1.1 and 5.0; QoS 0/1/2, retained, will, v5 properties,
subscribe/unsubscribe, ping, disconnect; plus one paho-mqtt client for v5 subscription options
and topic aliases, which the mosquitto tools cannot send), splits each direction of each connection into MQTT
packets using only the fixed header, and writes one fixture file per scenario:

    <connection> <c2s|s2c> <hex of one whole packet>

into crates/mqtt-codec/tests/fixtures/ (or the directory given as the first argument).
Loopback only; python3 standard library only. Used to make the codec's captured-bytes tests:
these are bytes nobody in this project wrote.
"""

import os
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
DEFAULT_OUT = os.path.join(HERE, "..", "crates", "mqtt-codec", "tests", "fixtures")


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_port(port, deadline=5.0):
    end = time.time() + deadline
    while time.time() < end:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
            return
        except OSError:
            time.sleep(0.05)
    raise RuntimeError(f"nothing listens on 127.0.0.1:{port}")


def split_packets(data):
    """Split a byte stream into whole MQTT packets by fixed header; leftovers are returned too."""
    packets, i = [], 0
    while i + 2 <= len(data):
        length, shift, j = 0, 0, i + 1
        while j < len(data) and j - i <= 4:
            length |= (data[j] & 0x7F) << shift
            shift += 7
            j += 1
            if data[j - 1] & 0x80 == 0:
                break
        else:
            break
        end = j + length
        if end > len(data):
            break
        packets.append(data[i:end])
        i = end
    return packets, data[i:]


class Proxy:
    """Accepts clients on 127.0.0.1 and relays them to the broker, recording both directions."""

    def __init__(self, broker_port):
        self.broker_port = broker_port
        self.listener = socket.socket()
        self.listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.listener.bind(("127.0.0.1", 0))
        self.listener.listen()
        self.port = self.listener.getsockname()[1]
        self.lock = threading.Lock()
        self.connections = []  # [label, {"c2s": bytearray, "s2c": bytearray}]
        self.next_label = None
        threading.Thread(target=self.accept_loop, daemon=True).start()

    def expect(self, label):
        """The next accepted connection is recorded under `label`."""
        with self.lock:
            self.next_label = label

    def accept_loop(self):
        while True:
            try:
                client, _ = self.listener.accept()
            except OSError:
                return
            broker = socket.create_connection(("127.0.0.1", self.broker_port))
            with self.lock:
                record = {"c2s": bytearray(), "s2c": bytearray()}
                self.connections.append([self.next_label or "conn", record])
            for src, dst, key in ((client, broker, "c2s"), (broker, client, "s2c")):
                threading.Thread(target=self.pump, args=(src, dst, record, key), daemon=True).start()

    def pump(self, src, dst, record, key):
        while True:
            try:
                data = src.recv(65536)
            except OSError:
                data = b""
            if not data:
                try:
                    dst.shutdown(socket.SHUT_WR)
                except OSError:
                    pass
                return
            with self.lock:
                record[key].extend(data)
            try:
                dst.sendall(data)
            except OSError:
                return

    def take(self):
        time.sleep(0.3)
        with self.lock:
            taken, self.connections = self.connections, []
        return taken


# A paho-mqtt client for what mosquitto_sub/pub cannot send: v5 subscription options (No Local,
# Retain As Published, Retain Handling) and PUBLISH by topic alias. Argument: host port.
PAHO_OPTIONS = r"""
import sys, time
import paho.mqtt.client as mqtt
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties
from paho.mqtt.subscribeoptions import SubscribeOptions
c = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id="paho5", protocol=mqtt.MQTTv5)
c.connect(sys.argv[1], int(sys.argv[2]), keepalive=20)
c.loop_start()
time.sleep(0.3)
c.subscribe([("o/a", SubscribeOptions(qos=1, noLocal=True, retainAsPublished=True, retainHandling=2)),
             ("o/+/b", SubscribeOptions(qos=2, retainHandling=1))])
time.sleep(0.3)
props = Properties(PacketTypes.PUBLISH)
props.TopicAlias = 1
c.publish("alias/topic", b"first", qos=1, properties=props).wait_for_publish(5)
c.publish("", b"second", qos=1, properties=props).wait_for_publish(5)
c.unsubscribe(["o/a", "o/+/b"])
time.sleep(0.3)
c.disconnect()
c.loop_stop()
"""


def scenarios():
    """(name, [(label, argv, background?)]) — a background step runs alongside the next ones."""
    v5_props = [
        "-D", "connect", "session-expiry-interval", "30",
        "-D", "connect", "receive-maximum", "10",
        "-D", "connect", "maximum-packet-size", "10000",
        "-D", "connect", "topic-alias-maximum", "5",
        "-D", "connect", "request-problem-information", "1",
        "-D", "connect", "request-response-information", "1",
        "-D", "connect", "user-property", "ck", "cv",
        "-D", "publish", "payload-format-indicator", "1",
        "-D", "publish", "message-expiry-interval", "60",
        "-D", "publish", "content-type", "text/plain",
        "-D", "publish", "response-topic", "reply/to",
        "-D", "publish", "correlation-data", "c0rr",
        "-D", "publish", "user-property", "pk", "pv",
        "-D", "disconnect", "session-expiry-interval", "0",
        "-D", "disconnect", "user-property", "dk", "dv",
    ]
    will = ["--will-topic", "will/t", "--will-payload", "gone", "--will-qos", "1", "--will-retain"]
    return [
        ("v31-qos-will", [
            ("sub", ["mosquitto_sub", "-V", "mqttv31", "-i", "sub31", "-t", "v31/#", "-q", "2", "-C", "3"], True),
            ("pub0", ["mosquitto_pub", "-V", "mqttv31", "-i", "pub31a", "-t", "v31/a", "-m", "zero", "-q", "0"], False),
            ("pub1", ["mosquitto_pub", "-V", "mqttv31", "-i", "pub31b", "-t", "v31/b", "-m", "one", "-q", "1"], False),
            ("pub2", ["mosquitto_pub", "-V", "mqttv31", "-i", "pub31c", "-t", "v31/c", "-m", "two", "-q", "2",
                      "-u", "user", "-P", "secret"] + will, False),
        ]),
        ("v311-qos-retain-will", [
            ("sub", ["mosquitto_sub", "-V", "mqttv311", "-i", "sub311", "-t", "v311/#", "-t", "other/+", "-q", "2",
                     "-C", "3"], True),
            ("pub0", ["mosquitto_pub", "-V", "mqttv311", "-t", "v311/a", "-m", "zero", "-q", "0", "-r"], False),
            ("pub1", ["mosquitto_pub", "-V", "mqttv311", "-i", "p311b", "-t", "v311/b", "-m", "one", "-q", "1",
                      "-u", "user", "-P", "secret"] + will, False),
            ("pub2", ["mosquitto_pub", "-V", "mqttv311", "-i", "p311c", "-t", "v311/c", "-m", "two", "-q", "2",
                      "-c", "-k", "30"], False),
        ]),
        ("v311-retained-delivery", [
            ("pub", ["mosquitto_pub", "-V", "mqttv311", "-i", "rpub", "-t", "keep/me", "-m", "kept", "-q", "1", "-r"],
             False),
            ("sub", ["mosquitto_sub", "-V", "mqttv311", "-i", "rsub", "-t", "keep/#", "-q", "1", "-C", "1"], False),
            ("clear", ["mosquitto_pub", "-V", "mqttv311", "-i", "rclr", "-t", "keep/me", "-n", "-r"], False),
        ]),
        ("v311-unsubscribe", [
            ("sub", ["mosquitto_sub", "-V", "mqttv311", "-i", "unsub311", "-c", "-t", "u/a", "-t", "u/+/c",
                     "-U", "u/a", "-U", "u/old/#", "-E"], False),
        ]),
        ("v31-unsubscribe-ping", [
            ("sub", ["mosquitto_sub", "-V", "mqttv31", "-i", "unsub31", "-c", "-t", "u31/a", "-t", "u31/b",
                     "-U", "u31/a", "-k", "5", "-W", "7"], False),
        ]),
        ("v311-ping", [
            ("sub", ["mosquitto_sub", "-V", "mqttv311", "-i", "ping311", "-t", "p/q", "-k", "5", "-W", "7"], False),
        ]),
        ("v5-properties", [
            ("sub", ["mosquitto_sub", "-V", "5", "-i", "sub5", "-t", "v5/#", "-q", "2", "-C", "3",
                     "-D", "subscribe", "subscription-identifier", "7",
                     "-D", "subscribe", "user-property", "sk", "sv",
                     "-D", "connect", "session-expiry-interval", "0"], True),
            ("pub0", ["mosquitto_pub", "-V", "5", "-i", "pub5a", "-t", "v5/a", "-m", "zero", "-q", "0"] + v5_props,
             False),
            ("pub1", ["mosquitto_pub", "-V", "5", "-i", "pub5b", "-t", "v5/b", "-m", "one", "-q", "1", "-r"]
             + will + ["-D", "will", "will-delay-interval", "3", "-D", "will", "content-type", "t/w",
                       "-D", "will", "user-property", "wk", "wv"], False),
            ("pub2", ["mosquitto_pub", "-V", "5", "-i", "pub5c", "-t", "v5/c", "-m", "two", "-q", "2"] + v5_props,
             False),
        ]),
        ("v5-subscribe-options", [
            ("sub", ["mosquitto_sub", "-V", "5", "-i", "opts5", "-c", "-t", "o/a", "-t", "o/+/b", "-q", "1",
                     "-U", "o/old", "-E", "-D", "unsubscribe", "user-property", "uk", "uv"], False),
            ("paho", [sys.executable, "-c", PAHO_OPTIONS], False),
            ("shared", ["mosquitto_sub", "-V", "5", "-i", "share5", "-t", "$share/grp/o/#", "-E"], False),
        ]),
        ("v5-ping", [
            ("sub", ["mosquitto_sub", "-V", "5", "-i", "ping5", "-t", "p/q", "-k", "5", "-W", "7"], False),
        ]),
    ]


def main():
    out_dir = os.path.abspath(sys.argv[1] if len(sys.argv) > 1 else DEFAULT_OUT)
    os.makedirs(out_dir, exist_ok=True)
    work = tempfile.mkdtemp(prefix="capture-mosquitto-")
    broker_port = free_port()
    conf = os.path.join(work, "mosquitto.conf")
    with open(conf, "w") as f:
        f.write(f"listener {broker_port} 127.0.0.1\nallow_anonymous true\npersistence false\n")
    broker = subprocess.Popen(["/usr/sbin/mosquitto", "-c", conf], stdout=subprocess.DEVNULL,
                              stderr=subprocess.DEVNULL)
    try:
        wait_port(broker_port)
        proxy = Proxy(broker_port)
        for name, steps in scenarios():
            background = []
            for label, argv, in_background in steps:
                proxy.expect(label)
                if argv[0] == sys.executable:
                    argv = argv + ["127.0.0.1", str(proxy.port)]
                else:
                    argv = argv[:1] + ["-h", "127.0.0.1", "-p", str(proxy.port)] + argv[1:]
                proc = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
                if in_background:
                    background.append(proc)
                    time.sleep(0.5)
                else:
                    proc.wait(timeout=20)
                    time.sleep(0.2)
            for proc in background:
                proc.wait(timeout=20)
            lines = [f"# {name}: captured from mosquitto 2.0.11 clients and broker by scripts/capture-mosquitto.py"]
            for label, record in proxy.take():
                for key in ("c2s", "s2c"):
                    packets, rest = split_packets(bytes(record[key]))
                    if rest:
                        raise RuntimeError(f"{name}/{label} {key}: {len(rest)} bytes of an incomplete packet")
                    lines.extend(f"{label} {key} {p.hex()}" for p in packets)
            path = os.path.join(out_dir, f"{name}.hex")
            with open(path, "w") as f:
                f.write("\n".join(lines) + "\n")
            print(f"{path}: {len(lines) - 1} packets")
    finally:
        broker.terminate()
        broker.wait(timeout=10)
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
