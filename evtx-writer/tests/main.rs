//! Integration tests: the writer's bytes against the worked example of the spec, and the
//! files it writes read back by the `evtx` crate. The other two independent parsers
//! (python-evtx, libevtx) check generated fleets in `generate/tests/`.

mod read_back;
mod spec_example;
