//! Ctrl+C and SIGTERM. The first asks the run to stop (grace period, cleanup,
//! summary, exit 0); the second kills every child, removes the temp files and exits
//! 130 at once. Before traffic starts, the first already does the latter: there is
//! nothing to summarize yet.

use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::mpsc::Sender;
use std::sync::{Arc, Mutex};

use crate::exec::client::Client;
use crate::model::error::Error;

pub struct Interrupts {
    pub client: Arc<Client>,
    /// The temp root to remove on an abort, once it exists.
    pub temp_root: Mutex<Option<PathBuf>>,
    /// True once traffic runs: from then on the first signal means "stop gently".
    pub running: AtomicBool,
}

impl Interrupts {
    /// Kills every child, removes the temp files and exits 130 at once.
    ///
    /// The one `std::process::exit` outside `main`, on purpose: it runs on the signal
    /// handler's thread while the main thread may be blocked anywhere (in the runtime's
    /// `block_on`, joining a user thread, waiting out the grace period), so no error can
    /// be returned up to `main` in time. "Abort at once" is its whole promise; the exit
    /// code still comes from the error type.
    pub fn abort(&self) -> ! {
        self.client.children.kill_all();
        if let Some(p) = self.temp_root.lock().unwrap_or_else(|e| e.into_inner()).take() {
            let _ = std::fs::remove_dir_all(p);
        }
        eprintln!("trafficgen: interrupted; children killed, temp files removed");
        std::process::exit(Error::Interrupted.exit_code());
    }
}

pub fn install(ints: Arc<Interrupts>, stop: Sender<()>) -> Result<(), Error> {
    let count = AtomicUsize::new(0);
    ctrlc::set_handler(move || {
        let n = count.fetch_add(1, Ordering::SeqCst);
        if n == 0 && ints.running.load(Ordering::SeqCst) {
            eprintln!("trafficgen: stopping (again to abort at once)");
            let _ = stop.send(());
        } else {
            ints.abort();
        }
    })
    .map_err(|e| Error::Failed(format!("cannot install the Ctrl+C handler: {e}")))
}
