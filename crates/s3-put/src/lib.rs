//! Library behind the binary of the same name.
