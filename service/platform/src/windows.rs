//! Windows: routes through the IP Helper API and DNS on the Wintun interface come with the
//! Windows service work; until then connecting reports plainly that it is not supported.

use std::path::Path;

use crate::{NetworkConfigurator, NetworkSettings, PlatformError};

pub(crate) struct WindowsNetwork;

impl WindowsNetwork {
    pub(crate) fn new(_state_dir: &Path, _connection: &str) -> Self {
        WindowsNetwork
    }
}

impl NetworkConfigurator for WindowsNetwork {
    fn apply(&mut self, _settings: &NetworkSettings) -> Result<(), PlatformError> {
        Err(PlatformError::Unsupported("routes and DNS on Windows"))
    }
    fn revert(&mut self) -> Result<(), PlatformError> {
        Ok(())
    }
}
