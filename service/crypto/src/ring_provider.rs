//! The ring provider.
