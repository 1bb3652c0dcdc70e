//! The HTTP API over `query`. Not built yet: see the serve issue (#6).
