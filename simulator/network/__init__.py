"""The carrier network as pure domain logic: no I/O, time from a clock object."""
