mod decisions;
mod router;
mod socket;
mod support;
