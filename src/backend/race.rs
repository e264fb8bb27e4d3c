//! Several futures raced as one, each polled only when its own waker fired.
//!
//! futures-lite's `or` hands every branch the task's one waker, so any wakeup polls
//! every branch. For a relay that is a system call per idle branch per message: a
//! read that returns `EAGAIN` and re-arms the descriptor, and a `wait4` from the
//! program's exit status. Here each branch gets a waker of its own that marks it and
//! then wakes the task, and a poll only polls the marked branches (all of them the
//! first time).

use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll, Wake, Waker};

/// A branch's waker: marks it, then wakes whoever polls the race.
struct Mark {
    woken: AtomicBool,
    task: Mutex<Option<Waker>>,
}

impl Wake for Mark {
    fn wake(self: Arc<Self>) {
        self.wake_by_ref();
    }

    fn wake_by_ref(self: &Arc<Self>) {
        self.woken.store(true, Ordering::SeqCst);
        // Woken outside the lock: an executor may poll the task from `wake`.
        let task = self.task.lock().unwrap_or_else(|p| p.into_inner()).clone();
        if let Some(task) = task {
            task.wake();
        }
    }
}

/// A boxed branch of a [`Race`].
pub type Branch<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// Completes with the output of whichever branch completes first; the others are
/// dropped with it. Branches are polled in order when several were woken.
pub struct Race<'a, T> {
    branches: Vec<(Branch<'a, T>, Arc<Mark>, Waker)>,
}

impl<'a, T> Race<'a, T> {
    /// Races `branches`.
    pub fn new(branches: Vec<Branch<'a, T>>) -> Race<'a, T> {
        let branches = branches
            .into_iter()
            .map(|branch| {
                let mark = Arc::new(Mark {
                    woken: AtomicBool::new(true),
                    task: Mutex::new(None),
                });
                let waker = Waker::from(mark.clone());
                (branch, mark, waker)
            })
            .collect();
        Race { branches }
    }
}

impl<T> Race<'_, T> {
    /// Marks every branch woken, so the next poll polls each once (after something
    /// they all look at changed).
    pub fn wake_all(&self) {
        for (_, mark, _) in &self.branches {
            mark.woken.store(true, Ordering::SeqCst);
        }
    }

    /// The output of the next branch to complete, which leaves the race; `None` once
    /// none is left. The others go on.
    pub async fn next(&mut self) -> Option<T> {
        std::future::poll_fn(|cx| {
            if self.branches.is_empty() {
                return Poll::Ready(None);
            }
            match self.poll_branches(cx) {
                Poll::Ready((i, out)) => {
                    drop(self.branches.remove(i));
                    Poll::Ready(Some(out))
                }
                Poll::Pending => Poll::Pending,
            }
        })
        .await
    }

    /// Polls the woken branches; the index and output of the first to complete.
    fn poll_branches(&mut self, cx: &mut Context<'_>) -> Poll<(usize, T)> {
        for (i, (branch, mark, waker)) in self.branches.iter_mut().enumerate() {
            {
                let mut task = mark.task.lock().unwrap_or_else(|p| p.into_inner());
                if !task.as_ref().is_some_and(|t| t.will_wake(cx.waker())) {
                    *task = Some(cx.waker().clone());
                }
            }
            // Cleared before polling: a wakeup during the poll marks it again.
            if mark.woken.swap(false, Ordering::SeqCst) {
                if let Poll::Ready(out) = branch.as_mut().poll(&mut Context::from_waker(waker)) {
                    return Poll::Ready((i, out));
                }
            }
        }
        Poll::Pending
    }
}

impl<T> Future for Race<'_, T> {
    type Output = T;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<T> {
        self.get_mut().poll_branches(cx).map(|(_, out)| out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::AtomicUsize;

    /// A future that counts its polls and is ready when told.
    struct Probe {
        polls: Arc<AtomicUsize>,
        ready: Arc<AtomicBool>,
        waker: Arc<Mutex<Option<Waker>>>,
        value: u8,
    }

    impl Future for Probe {
        type Output = u8;
        fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<u8> {
            self.polls.fetch_add(1, Ordering::SeqCst);
            if self.ready.load(Ordering::SeqCst) {
                return Poll::Ready(self.value);
            }
            *self.waker.lock().unwrap() = Some(cx.waker().clone());
            Poll::Pending
        }
    }

    type Handles = (Arc<AtomicUsize>, Arc<AtomicBool>, Arc<Mutex<Option<Waker>>>);

    fn probe(value: u8) -> (Branch<'static, u8>, Handles) {
        let handles: Handles = Default::default();
        let p = Probe {
            polls: handles.0.clone(),
            ready: handles.1.clone(),
            waker: handles.2.clone(),
            value,
        };
        (Box::pin(p), handles)
    }

    #[test]
    fn only_the_woken_branch_is_polled_again() {
        let (a, ha) = probe(1);
        let (b, hb) = probe(2);
        let mut race = Race::new(vec![a, b]);
        let woke = Arc::new(AtomicUsize::new(0));
        struct Count(Arc<AtomicUsize>);
        impl Wake for Count {
            fn wake(self: Arc<Self>) {
                self.0.fetch_add(1, Ordering::SeqCst);
            }
        }
        let task = Waker::from(Arc::new(Count(woke.clone())));
        let mut cx = Context::from_waker(&task);
        assert!(Pin::new(&mut race).poll(&mut cx).is_pending());
        assert_eq!(
            (ha.0.load(Ordering::SeqCst), hb.0.load(Ordering::SeqCst)),
            (1, 1)
        );
        // Nothing woke: nothing is polled.
        assert!(Pin::new(&mut race).poll(&mut cx).is_pending());
        assert_eq!(
            (ha.0.load(Ordering::SeqCst), hb.0.load(Ordering::SeqCst)),
            (1, 1)
        );
        // b wakes: the task is woken, and only b is polled.
        hb.2.lock().unwrap().take().unwrap().wake();
        assert_eq!(woke.load(Ordering::SeqCst), 1);
        assert!(Pin::new(&mut race).poll(&mut cx).is_pending());
        assert_eq!(
            (ha.0.load(Ordering::SeqCst), hb.0.load(Ordering::SeqCst)),
            (1, 2)
        );
        // a becomes ready and wakes: the race completes with it.
        ha.1.store(true, Ordering::SeqCst);
        ha.2.lock().unwrap().take().unwrap().wake();
        assert_eq!(Pin::new(&mut race).poll(&mut cx), Poll::Ready(1));
    }

    #[test]
    fn next_goes_on_with_the_others_and_wake_all_polls_each() {
        let (a, ha) = probe(1);
        let (b, hb) = probe(2);
        let mut race = Race::new(vec![a, b]);
        hb.1.store(true, Ordering::SeqCst);
        assert_eq!(futures_lite::future::block_on(race.next()), Some(2));
        let polled = ha.0.load(Ordering::SeqCst);
        // a is asleep: wake_all has it polled again.
        ha.1.store(true, Ordering::SeqCst);
        race.wake_all();
        assert_eq!(futures_lite::future::block_on(race.next()), Some(1));
        assert_eq!(ha.0.load(Ordering::SeqCst), polled + 1);
        assert_eq!(futures_lite::future::block_on(race.next()), None);
    }

    #[test]
    fn first_ready_in_order_wins() {
        let (a, ha) = probe(1);
        let (b, hb) = probe(2);
        ha.1.store(true, Ordering::SeqCst);
        hb.1.store(true, Ordering::SeqCst);
        let race = Race::new(vec![a, b]);
        assert_eq!(futures_lite::future::block_on(race), 1);
    }
}
