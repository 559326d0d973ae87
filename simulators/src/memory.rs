//! How a process that runs simulators (`andon`, `andon-simulator`) takes memory from the
//! kernel.
//!
//! The simulators keep every record they write, so a run's heap grows for as long as it
//! lasts. With transparent huge pages, each step of that growth is a fault that zeroes two
//! megabytes at once: on a virtual machine that stalls the process for milliseconds, every
//! request in flight waits, and the stalls show up as latency the SUT never caused (the p99
//! of the generator alone went from 0.7 ms to 5.3 ms, its rate down by a seventh, in
//! `ci/bench-load.sh`). Ordinary pages grow the heap in small, cheap steps.

/// Why transparent huge pages could not be turned off.
#[derive(Debug, thiserror::Error)]
#[error("cannot turn transparent huge pages off: {0}")]
pub struct PagesError(String);

/// Turns transparent huge pages off for this process (Linux; elsewhere nothing to do).
/// Returns why it could not, if it could not: the run goes on either way.
pub fn small_pages() -> Result<(), PagesError> {
    #[cfg(target_os = "linux")]
    {
        nix::sys::prctl::set_thp_disable(true).map_err(|e| PagesError(e.to_string()))
    }
    #[cfg(not(target_os = "linux"))]
    {
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    #[cfg(target_os = "linux")]
    #[test]
    fn huge_pages_are_off_for_the_process_afterwards() {
        super::small_pages().unwrap();
        assert!(nix::sys::prctl::get_thp_disable().unwrap());
    }
}
