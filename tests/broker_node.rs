//! Node's `mqtt` package (npm) for one publish/subscribe round trip, MQTT 3.1.1 and 5, against
//! `culex` and, as the reference, Mosquitto. The client is installed in `tests/node` by
//! `scripts/install-test-deps.sh`.

use std::process::Command;

use crate::broker_tools::against_both;
use crate::support::{BrokerProcess, COMMAND_DEADLINE, node_test_dir, run};

against_both!(node_mqtt_round_trip);

fn node_mqtt_round_trip(broker: &BrokerProcess) {
    let dir = node_test_dir();
    for version in ["4", "5"] {
        let done = run(
            Command::new("node").current_dir(&dir).args([
                "roundtrip.js",
                &broker.port.to_string(),
                version,
            ]),
            COMMAND_DEADLINE,
        );
        assert_eq!(done.code(), 0, "node client (protocol {version}) failed: {}", done.stderr);
        assert_eq!(done.stdout, "received topic-ok hello from node\n", "protocol {version}");
    }
}
