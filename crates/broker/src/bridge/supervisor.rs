//! The set of running bridges, keyed by connection name. It starts them with the broker and,
//! on SIGHUP, compares the file's `connection` sections with what runs (Mosquitto 2.1 reloads
//! bridges): a new name starts a bridge, a name gone stops its bridge, and a bridge whose
//! settings changed is sent them, to apply as its `bridge_reload_type` says (`lazy`: at its
//! next connection; `immediate`: now). A bridge whose settings did not change hears nothing,
//! so its connection is not disturbed.

use std::sync::Arc;

use mqtt_core::ConnId;
use tokio::sync::mpsc;

use super::Command;
use crate::config::{BridgeConfig, ReloadType};
use crate::event::Shards;
use crate::log::Logger;

/// The running bridges.
pub(crate) struct Supervisor {
    running: Vec<Running>,
    starter: Starter,
}

/// What every bridge task starts with.
struct Starter {
    /// The core's in-flight window at start (`max_inflight_messages`, not re-read on SIGHUP).
    window: u16,
    shards: Shards,
    logger: Arc<Logger>,
}

/// One running bridge: the settings it was last given, and its task's command channel.
struct Running {
    config: BridgeConfig,
    commands: mpsc::UnboundedSender<Command>,
}

impl Supervisor {
    /// No bridge yet; `window` is the core's `max_inflight_messages`.
    pub(crate) fn new(window: u16, shards: Shards, logger: Arc<Logger>) -> Self {
        Self { running: Vec::new(), starter: Starter { window, shards, logger } }
    }

    /// Makes the running bridges those of `configs` (at start: starts them all).
    /// `next_conn` hands out the ids of new local connections.
    pub(crate) fn apply(
        &mut self,
        configs: &[BridgeConfig],
        mut next_conn: impl FnMut() -> ConnId,
    ) {
        self.running.retain(|running| {
            let kept = configs.iter().any(|config| config.name == running.config.name);
            if !kept {
                let _ = running.commands.send(Command::Stop);
            }
            kept
        });
        for config in configs {
            let Some(running) = self.running.iter_mut().find(|r| r.config.name == config.name)
            else {
                let commands = self.starter.spawn(config, next_conn());
                self.running.push(Running { config: config.clone(), commands });
                continue;
            };
            if same_settings(&running.config, config) {
                running.config = config.clone();
                continue;
            }
            let now = config.reload_type == ReloadType::Immediate;
            let command =
                Command::Reconfigure { config: Box::new(config.clone()), conn: next_conn(), now };
            if running.commands.send(command).is_err() {
                // Its task has ended (refused by this broker, say): the new settings start
                // it again.
                running.commands = self.starter.spawn(config, next_conn());
            }
            running.config = config.clone();
        }
    }
}

impl Starter {
    fn spawn(&self, config: &BridgeConfig, conn: ConnId) -> mpsc::UnboundedSender<Command> {
        super::spawn(
            config.clone(),
            conn,
            self.window,
            self.shards.clone(),
            Arc::clone(&self.logger),
        )
    }
}

/// Whether two sections of the same bridge differ only in `bridge_reload_type` (which says
/// how to apply a change and is no change itself).
fn same_settings(running: &BridgeConfig, new: &BridgeConfig) -> bool {
    *running == BridgeConfig { reload_type: running.reload_type, ..new.clone() }
}
