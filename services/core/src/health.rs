//! What each component of a process is doing, for `/readyz`, the operator
//! overview and logs.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

use chrono::{DateTime, Utc};
use serde::Serialize;

/// The state of one component (a consumer, a server).
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct ComponentState {
    /// Working normally.
    pub ready: bool,
    /// What it is doing (`consuming hub.router`, `reconnecting: …`).
    pub detail: String,
    /// When the state last changed.
    pub since: DateTime<Utc>,
}

/// Shared registry of component states. Cheap to clone.
#[derive(Clone, Debug, Default)]
pub struct Health {
    components: Arc<Mutex<BTreeMap<String, ComponentState>>>,
}

impl Health {
    /// Records a component's state.
    pub fn set(&self, component: &str, ready: bool, detail: impl Into<String>) {
        let detail = detail.into();
        if let Ok(mut map) = self.components.lock() {
            let changed = map
                .get(component)
                .is_none_or(|s| s.ready != ready || s.detail != detail);
            if changed {
                map.insert(
                    component.to_owned(),
                    ComponentState {
                        ready,
                        detail,
                        since: Utc::now(),
                    },
                );
            }
        }
    }

    /// Every component's state.
    #[must_use]
    pub fn snapshot(&self) -> BTreeMap<String, ComponentState> {
        self.components
            .lock()
            .map(|m| m.clone())
            .unwrap_or_default()
    }

    /// True when every registered component is ready.
    #[must_use]
    pub fn all_ready(&self) -> bool {
        self.components
            .lock()
            .map(|m| !m.is_empty() && m.values().all(|s| s.ready))
            .unwrap_or(false)
    }
}
