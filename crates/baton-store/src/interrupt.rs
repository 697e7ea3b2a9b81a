//! A process-wide interrupt: the agent's SIGTERM or SIGINT sets it, and every registry request
//! or transfer waiting on the network ends at once with an error saying so, instead of running
//! to its timeout.

use std::sync::LazyLock;

use tokio::sync::watch;

static INTERRUPT: LazyLock<watch::Sender<bool>> = LazyLock::new(|| watch::channel(false).0);

/// Interrupts every registry request of this process, now and later.
pub fn interrupt() {
    INTERRUPT.send_replace(true);
}

/// True once [`interrupt`] was called.
pub fn is_interrupted() -> bool {
    *INTERRUPT.borrow()
}

/// Completes once [`interrupt`] is called (at once when it was).
pub fn interrupted() -> impl Future<Output = ()> + Send + 'static {
    let mut receiver = INTERRUPT.subscribe();
    async move {
        // The sender lives in a static, so the channel never closes.
        let _ = receiver.wait_for(|interrupted| *interrupted).await;
    }
}
