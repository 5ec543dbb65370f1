//! What the app knows, and the pure functions that turn it into what the user sees in the tray.
//!
//! The tray icon, its tooltip and its menu are functions of the [`Snapshot`] alone (Firezone's
//! `system_tray.rs` habit), so they are unit-tested here without a display, and the tray code
//! only applies what these functions return.

use serde::Serialize;
use strait_ipc::{ConnState, ConnectionStatus, Counters, ProfileSummary};

/// Whether the app can reach `straitd`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum ServiceState {
    /// Not asked yet (the first moment after start).
    Unknown,
    /// Connected and subscribed to events.
    Running {
        /// The service's version.
        version: String,
    },
    /// Not reachable: not running, or no permission on its socket.
    Unreachable {
        /// What went wrong, in plain words, with what to do.
        message: String,
        /// Where the app looked.
        socket: String,
    },
}

/// A profile as the window shows it: the service's summary, and which secrets it needs and
/// the keychain holds (the secrets themselves never leave the Rust side).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ProfileView {
    /// What the service reports.
    #[serde(flatten)]
    pub summary: ProfileSummary,
    /// The secret kinds the method needs ("psk", "password", "key").
    pub needs: Vec<&'static str>,
    /// The needed kinds that are stored in the keychain.
    pub stored: Vec<&'static str>,
}

/// Everything the window and the tray show.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Snapshot {
    /// The service.
    pub service: ServiceState,
    /// Stored profiles, sorted by id.
    pub profiles: Vec<ProfileView>,
    /// Connections that are not disconnected.
    pub connections: Vec<ConnectionStatus>,
}

impl Default for Snapshot {
    fn default() -> Self {
        Snapshot {
            service: ServiceState::Unknown,
            profiles: Vec::new(),
            connections: Vec::new(),
        }
    }
}

impl Snapshot {
    /// The connection of a profile, if it is not disconnected.
    pub fn connection(&self, profile: &str) -> Option<&ConnectionStatus> {
        self.connections.iter().find(|c| c.profile == profile)
    }

    /// Applies a state change reported by the service.
    pub fn apply_status(&mut self, status: ConnectionStatus) {
        let disconnected = status.state == ConnState::Disconnected;
        match self
            .connections
            .iter_mut()
            .find(|c| c.profile == status.profile)
        {
            Some(c) if disconnected => c.state = ConnState::Disconnected,
            Some(c) => *c = status,
            None if disconnected => {}
            None => self.connections.push(status),
        }
        self.connections
            .retain(|c| c.state != ConnState::Disconnected);
    }

    /// Applies new counters of a connection, with its rekey times (seconds from now).
    pub fn apply_counters(
        &mut self,
        profile: &str,
        counters: Counters,
        rekey_in_secs: (Option<u64>, Option<u64>),
    ) {
        if let Some(c) = self.connections.iter_mut().find(|c| c.profile == profile) {
            c.counters = counters;
            (c.ike_rekey_in_secs, c.child_rekey_in_secs) = rekey_in_secs;
        }
    }

    /// The profile one click on the tray connects: the one that is active, else the first.
    pub fn default_profile(&self) -> Option<&str> {
        self.connections
            .first()
            .map(|c| c.profile.as_str())
            .or_else(|| self.profiles.first().map(|p| p.summary.id.as_str()))
    }
}

/// What the tray icon shows: one state for the whole app.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TrayState {
    /// The service cannot be reached.
    ServiceDown,
    /// No tunnel.
    Disconnected,
    /// A tunnel is being negotiated, re-established or torn down.
    Connecting,
    /// A tunnel is up.
    Connected,
    /// The last attempt failed.
    Error,
}

/// The tray state of a snapshot: the most hopeful connection wins (one tunnel up is
/// "connected" even if another failed).
pub fn tray_state(s: &Snapshot) -> TrayState {
    if matches!(s.service, ServiceState::Unreachable { .. }) {
        return TrayState::ServiceDown;
    }
    let has = |f: fn(ConnState) -> bool| s.connections.iter().any(|c| f(c.state));
    if has(|st| st == ConnState::Connected) {
        TrayState::Connected
    } else if has(|st| {
        matches!(
            st,
            ConnState::Connecting | ConnState::Reconnecting | ConnState::Disconnecting
        )
    }) {
        TrayState::Connecting
    } else if has(|st| st == ConnState::Error) {
        TrayState::Error
    } else {
        TrayState::Disconnected
    }
}

/// The PNG of the tray icon for a state.
pub fn tray_icon(state: TrayState) -> &'static [u8] {
    match state {
        TrayState::ServiceDown => include_bytes!("../icons/tray-service-down.png"),
        TrayState::Disconnected => include_bytes!("../icons/tray-disconnected.png"),
        TrayState::Connecting => include_bytes!("../icons/tray-connecting.png"),
        TrayState::Connected => include_bytes!("../icons/tray-connected.png"),
        TrayState::Error => include_bytes!("../icons/tray-error.png"),
    }
}

/// The tray tooltip: the state in plain words.
pub fn tray_tooltip(s: &Snapshot) -> String {
    match tray_state(s) {
        TrayState::ServiceDown => "Strait: the Strait service is not running".to_owned(),
        TrayState::Disconnected => "Strait: disconnected".to_owned(),
        TrayState::Connecting => "Strait: connecting…".to_owned(),
        TrayState::Connected => {
            let names: Vec<&str> = s
                .connections
                .iter()
                .filter(|c| c.state == ConnState::Connected)
                .map(|c| profile_name(s, &c.profile))
                .collect();
            format!("Strait: connected to {}", names.join(", "))
        }
        TrayState::Error => "Strait: the last connection failed".to_owned(),
    }
}

/// A profile's display name (its id when the snapshot does not know it).
pub fn profile_name<'a>(s: &'a Snapshot, id: &'a str) -> &'a str {
    s.profiles
        .iter()
        .find(|p| p.summary.id == id)
        .map_or(id, |p| p.summary.name.as_str())
}

/// A desktop notification: what the user reads when a connection changes state.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Notice {
    /// Title ("Strait").
    pub title: String,
    /// The sentence to read.
    pub body: String,
}

/// The notification a state change reported by the service gives, judged against the
/// snapshot *before* the change is applied: one on getting connected, one on getting
/// disconnected after being up (connected or disconnecting), one on a failure with the
/// plain-words reason; nothing for the steps in between or a repeated state.
pub fn transition_notice(s: &Snapshot, next: &ConnectionStatus) -> Option<Notice> {
    let before = s
        .connection(&next.profile)
        .map_or(ConnState::Disconnected, |c| c.state);
    if before == next.state {
        return None;
    }
    let name = profile_name(s, &next.profile);
    let body = match next.state {
        ConnState::Connected => match next.virtual_ips.as_slice() {
            [] => format!("Connected to {name}"),
            ips => {
                let ips: Vec<String> = ips.iter().map(ToString::to_string).collect();
                format!("Connected to {name} — virtual IP {}", ips.join(", "))
            }
        },
        ConnState::Disconnected
            if matches!(before, ConnState::Connected | ConnState::Disconnecting) =>
        {
            format!("Disconnected from {name}")
        }
        ConnState::Error => {
            let reason = next
                .reason
                .as_deref()
                .map(str::trim)
                .filter(|r| !r.is_empty())
                .unwrap_or("the connection failed.");
            format!("Could not connect to {name}: {reason}")
        }
        _ => return None,
    };
    Some(Notice {
        title: "Strait".to_owned(),
        body,
    })
}

/// One entry of the tray menu.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MenuEntry {
    /// A clickable item; its id is what [`MenuAction::parse`] reads back.
    Item {
        /// Menu item id.
        id: String,
        /// Label.
        label: String,
        /// Whether it can be clicked.
        enabled: bool,
    },
    /// A line between groups.
    Separator,
}

/// What a tray menu item does.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MenuAction {
    /// Connect a profile.
    Connect(String),
    /// Disconnect a profile.
    Disconnect(String),
    /// Show the main window.
    Open,
    /// Quit the app (the service and its tunnels keep running).
    Quit,
}

impl MenuAction {
    /// The menu item id of this action.
    pub fn id(&self) -> String {
        match self {
            MenuAction::Connect(p) => format!("connect:{p}"),
            MenuAction::Disconnect(p) => format!("disconnect:{p}"),
            MenuAction::Open => "open".to_owned(),
            MenuAction::Quit => "quit".to_owned(),
        }
    }

    /// Reads a menu item id back.
    pub fn parse(id: &str) -> Option<MenuAction> {
        if let Some(p) = id.strip_prefix("connect:") {
            return Some(MenuAction::Connect(p.to_owned()));
        }
        if let Some(p) = id.strip_prefix("disconnect:") {
            return Some(MenuAction::Disconnect(p.to_owned()));
        }
        match id {
            "open" => Some(MenuAction::Open),
            "quit" => Some(MenuAction::Quit),
            _ => None,
        }
    }
}

/// The tray menu of a snapshot: a status line, one item per profile (connect or disconnect),
/// "Open Strait", "Quit".
pub fn tray_menu(s: &Snapshot) -> Vec<MenuEntry> {
    let mut out = vec![
        MenuEntry::Item {
            id: "status".to_owned(),
            label: tray_tooltip(s).trim_start_matches("Strait: ").to_owned(),
            enabled: false,
        },
        MenuEntry::Separator,
    ];
    let reachable = matches!(s.service, ServiceState::Running { .. });
    for p in &s.profiles {
        let id = &p.summary.id;
        let name = &p.summary.name;
        let (action, label) = match s.connection(id).map(|c| c.state) {
            None | Some(ConnState::Disconnected) | Some(ConnState::Error) => {
                (MenuAction::Connect(id.clone()), format!("Connect {name}"))
            }
            Some(ConnState::Connected) => (
                MenuAction::Disconnect(id.clone()),
                format!("Disconnect {name}"),
            ),
            Some(ConnState::Connecting | ConnState::Reconnecting) => (
                MenuAction::Disconnect(id.clone()),
                format!("Cancel connecting {name}"),
            ),
            Some(ConnState::Disconnecting) => (
                MenuAction::Disconnect(id.clone()),
                format!("Disconnecting {name}…"),
            ),
        };
        out.push(MenuEntry::Item {
            id: action.id(),
            label,
            enabled: reachable,
        });
    }
    if !s.profiles.is_empty() {
        out.push(MenuEntry::Separator);
    }
    out.push(MenuEntry::Item {
        id: MenuAction::Open.id(),
        label: "Open Strait".to_owned(),
        enabled: true,
    });
    out.push(MenuEntry::Item {
        id: MenuAction::Quit.id(),
        label: "Quit".to_owned(),
        enabled: true,
    });
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn profile(id: &str, name: &str) -> ProfileView {
        ProfileView {
            summary: ProfileSummary {
                id: id.to_owned(),
                name: name.to_owned(),
                gateway: "vpn.example".to_owned(),
                version: "ikev2".to_owned(),
                method: "psk".to_owned(),
                managed: false,
                local_id: None,
                remote_id: Some("vpn.example".to_owned()),
                username: None,
                routes: vec![],
                ike: vec![],
                esp: vec![],
            },
            needs: vec!["psk"],
            stored: vec![],
        }
    }

    fn conn(profile: &str, state: ConnState) -> ConnectionStatus {
        ConnectionStatus {
            profile: profile.to_owned(),
            state,
            gateway: "vpn.example".to_owned(),
            gateway_address: None,
            virtual_ips: vec![],
            dns: vec![],
            dns_domains: vec![],
            routes: vec![],
            ike_algorithms: None,
            esp_algorithms: None,
            ike_spis: None,
            esp_spis: None,
            nat: false,
            counters: Counters::default(),
            uptime_secs: None,
            ike_rekey_in_secs: None,
            child_rekey_in_secs: None,
            kill_switch: false,
            reason: None,
        }
    }

    fn running() -> Snapshot {
        Snapshot {
            service: ServiceState::Running {
                version: "0.1.0".to_owned(),
            },
            profiles: vec![profile("hq", "Acme HQ"), profile("lab", "Lab")],
            connections: vec![],
        }
    }

    #[test]
    fn tray_state_is_a_function_of_the_snapshot() {
        let mut s = running();
        assert_eq!(tray_state(&s), TrayState::Disconnected);
        s.apply_status(conn("hq", ConnState::Error));
        assert_eq!(tray_state(&s), TrayState::Error);
        s.apply_status(conn("lab", ConnState::Connecting));
        assert_eq!(tray_state(&s), TrayState::Connecting);
        s.apply_status(conn("lab", ConnState::Connected));
        assert_eq!(tray_state(&s), TrayState::Connected);
        assert_eq!(tray_tooltip(&s), "Strait: connected to Lab");
        s.apply_status(conn("lab", ConnState::Disconnected));
        assert!(s.connection("lab").is_none());
        assert_eq!(tray_state(&s), TrayState::Error);
        s.service = ServiceState::Unreachable {
            message: "down".to_owned(),
            socket: "/run/strait/straitd.sock".to_owned(),
        };
        assert_eq!(tray_state(&s), TrayState::ServiceDown);
        assert!(tray_tooltip(&s).contains("not running"));
    }

    #[test]
    fn every_state_has_a_distinct_png_icon() {
        let states = [
            TrayState::ServiceDown,
            TrayState::Disconnected,
            TrayState::Connecting,
            TrayState::Connected,
            TrayState::Error,
        ];
        for (i, a) in states.iter().enumerate() {
            assert!(tray_icon(*a).starts_with(b"\x89PNG"), "{a:?}");
            for b in &states[i + 1..] {
                assert_ne!(tray_icon(*a), tray_icon(*b), "{a:?} vs {b:?}");
            }
        }
    }

    #[test]
    fn menu_lists_profiles_with_the_right_action() {
        let mut s = running();
        s.apply_status(conn("hq", ConnState::Connected));
        let items: Vec<(String, String, bool)> = tray_menu(&s)
            .into_iter()
            .filter_map(|e| match e {
                MenuEntry::Item { id, label, enabled } => Some((id, label, enabled)),
                MenuEntry::Separator => None,
            })
            .collect();
        let ids: Vec<&str> = items.iter().map(|i| i.0.as_str()).collect();
        assert_eq!(
            ids,
            ["status", "disconnect:hq", "connect:lab", "open", "quit"]
        );
        assert_eq!(items[1].1, "Disconnect Acme HQ");
        assert!(!items[0].2, "the status line is not clickable");
        for (id, _, _) in &items[1..] {
            assert_eq!(
                MenuAction::parse(id).map(|a| a.id()).as_deref(),
                Some(id.as_str())
            );
        }
        assert_eq!(MenuAction::parse("status"), None);
        assert_eq!(s.default_profile(), Some("hq"));
    }

    #[test]
    fn profile_items_are_disabled_while_the_service_is_down() {
        let mut s = running();
        s.service = ServiceState::Unreachable {
            message: "down".to_owned(),
            socket: "x".to_owned(),
        };
        let menu = tray_menu(&s);
        assert!(menu.contains(&MenuEntry::Item {
            id: "connect:hq".to_owned(),
            label: "Connect Acme HQ".to_owned(),
            enabled: false
        }));
        assert!(menu.contains(&MenuEntry::Item {
            id: "quit".to_owned(),
            label: "Quit".to_owned(),
            enabled: true
        }));
    }

    /// Applies `next` after asking which notification it gives.
    fn step(s: &mut Snapshot, next: ConnectionStatus) -> Option<String> {
        let notice = transition_notice(s, &next);
        s.apply_status(next);
        notice.map(|n| {
            assert_eq!(n.title, "Strait");
            n.body
        })
    }

    #[test]
    fn connecting_then_disconnecting_notifies_twice() {
        let mut s = running();
        assert_eq!(step(&mut s, conn("hq", ConnState::Connecting)), None);
        let mut up = conn("hq", ConnState::Connected);
        up.virtual_ips = vec!["10.99.0.1".parse().unwrap()];
        assert_eq!(
            step(&mut s, up.clone()).as_deref(),
            Some("Connected to Acme HQ — virtual IP 10.99.0.1")
        );
        // A status update of a connection that stays up is not news.
        assert_eq!(step(&mut s, up), None);
        assert_eq!(step(&mut s, conn("hq", ConnState::Disconnecting)), None);
        assert_eq!(
            step(&mut s, conn("hq", ConnState::Disconnected)).as_deref(),
            Some("Disconnected from Acme HQ")
        );
        assert_eq!(step(&mut s, conn("hq", ConnState::Disconnected)), None);
    }

    #[test]
    fn a_connection_dropped_straight_from_connected_notifies() {
        let mut s = running();
        s.apply_status(conn("lab", ConnState::Connected));
        assert_eq!(
            step(&mut s, conn("lab", ConnState::Disconnected)).as_deref(),
            Some("Disconnected from Lab")
        );
        // Without a virtual IP, and for a profile the snapshot does not know (its id).
        assert_eq!(
            step(&mut s, conn("other", ConnState::Connected)).as_deref(),
            Some("Connected to other")
        );
    }

    #[test]
    fn a_cancelled_attempt_is_quiet() {
        let mut s = running();
        assert_eq!(step(&mut s, conn("hq", ConnState::Connecting)), None);
        assert_eq!(step(&mut s, conn("hq", ConnState::Disconnected)), None);
    }

    #[test]
    fn a_failure_notifies_once_with_the_reason() {
        let mut s = running();
        assert_eq!(step(&mut s, conn("hq", ConnState::Connecting)), None);
        let mut failed = conn("hq", ConnState::Error);
        failed.reason = Some("The gateway rejected our pre-shared key.".to_owned());
        assert_eq!(
            step(&mut s, failed.clone()).as_deref(),
            Some("Could not connect to Acme HQ: The gateway rejected our pre-shared key.")
        );
        assert_eq!(step(&mut s, failed), None);
        // Clearing the failure is not a disconnection the user needs to hear about.
        assert_eq!(step(&mut s, conn("hq", ConnState::Disconnected)), None);
        // A failure without a reason still says something.
        assert_eq!(
            step(&mut s, conn("lab", ConnState::Error)).as_deref(),
            Some("Could not connect to Lab: the connection failed.")
        );
    }

    #[test]
    fn counters_update_the_matching_connection() {
        let mut s = running();
        s.apply_status(conn("hq", ConnState::Connected));
        let c = Counters {
            bytes_in: 10,
            ..Counters::default()
        };
        s.apply_counters("hq", c, (Some(3600), Some(60)));
        s.apply_counters("nope", Counters::default(), (None, None));
        assert_eq!(s.connection("hq").map(|c| c.counters.bytes_in), Some(10));
        let hq = s.connection("hq").unwrap();
        assert_eq!(
            (hq.ike_rekey_in_secs, hq.child_rekey_in_secs),
            (Some(3600), Some(60))
        );
        // The window gets the details and rekey times as the service sent them.
        let json = serde_json::to_value(&s).unwrap();
        assert_eq!(json["connections"][0]["ike_rekey_in_secs"], 3600);
        assert_eq!(json["profiles"][0]["remote_id"], "vpn.example");
        assert!(json["profiles"][0]["routes"].as_array().unwrap().is_empty());
    }
}
