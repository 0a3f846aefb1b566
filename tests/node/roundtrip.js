// One publish/subscribe round trip with Node's `mqtt` package, as its users write it.
// Usage: node roundtrip.js <port or URL> <protocolVersion 4|5>
// A bare port means mqtt://127.0.0.1:<port>; a URL such as ws://127.0.0.1:8080 is used as is.
// Prints "received <topic> <payload>" and exits 0, or exits 1 after 10 s.
'use strict';
const mqtt = require('mqtt');

const target = process.argv[2];
const url = /^\d+$/.test(target) ? `mqtt://127.0.0.1:${target}` : target;
const protocolVersion = Number(process.argv[3] || 4);
const topic = `node/roundtrip/${process.pid}`;
const client = mqtt.connect(url, { protocolVersion, clientId: `node-${process.pid}` });
const fail = setTimeout(() => { console.error('timed out'); process.exit(1); }, 10000);

client.on('error', (err) => { console.error(`error: ${err.message}`); process.exit(1); });
client.on('connect', () => {
  client.subscribe(topic, { qos: 1 }, (err) => {
    if (err) { console.error(`subscribe failed: ${err.message}`); process.exit(1); }
    client.publish(topic, 'hello from node', { qos: 1 });
  });
});
client.on('message', (receivedTopic, payload) => {
  console.log(`received ${receivedTopic === topic ? 'topic-ok' : receivedTopic} ${payload.toString()}`);
  clearTimeout(fail);
  client.end(false, () => process.exit(0));
});
