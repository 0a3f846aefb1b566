//! The access-control hook: one pure check the broker calls on publish, subscribe and delivery.
//! `mqtt_core::acl` (Mosquitto's `acl_file`) plugs in here by implementing [`AccessControl`].

/// What a client wants to do with a topic.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Access {
    /// Publish to the topic (checked for every incoming PUBLISH and for wills).
    Write,
    /// Receive a message on the topic (checked per subscriber at delivery).
    Read,
    /// Subscribe with this filter (checked per filter of a SUBSCRIBE).
    Subscribe,
}

/// The client an access check is about.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ClientRef<'a> {
    /// Client id.
    pub client_id: &'a str,
    /// Username from CONNECT, if any.
    pub username: Option<&'a str>,
}

/// A pure, cheap permission check, run on the broker's driver task.
pub trait AccessControl: Send + Sync {
    /// Whether `client` may perform `access` on `topic` (a topic name, or a filter for
    /// [`Access::Subscribe`]).
    fn check(&self, client: &ClientRef<'_>, topic: &str, access: Access) -> bool;
}
