//! macOS: routes through the routing socket and DNS through SystemConfiguration come with the
//! macOS service work; until then connecting reports plainly that it is not supported.

use std::path::Path;

use crate::{NetworkConfigurator, NetworkSettings, PlatformError};

pub(crate) struct MacNetwork;

impl MacNetwork {
    pub(crate) fn new(_state_dir: &Path, _connection: &str) -> Self {
        MacNetwork
    }
}

impl NetworkConfigurator for MacNetwork {
    fn apply(&mut self, _settings: &NetworkSettings) -> Result<(), PlatformError> {
        Err(PlatformError::Unsupported("routes and DNS on macOS"))
    }
    fn revert(&mut self) -> Result<(), PlatformError> {
        Ok(())
    }
}
