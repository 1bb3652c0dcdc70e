mod router;
mod socket;
mod support;
