//! The real binary through the fault proxy (`fault_proxy.rs`) in front of the emulator.
