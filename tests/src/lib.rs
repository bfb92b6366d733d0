//! Harness for the end-to-end suite: installs, starts and stops real servers.
