//! Hot workers: rayon's workers kept spinning while a training loop runs.
//!
//! A parallel region normally starts with `rayon::join`, which must wake a
//! sleeping worker. On the 2-vCPU VM this project is measured on, the woken
//! worker started its half of a product 65-235 µs after the join (mean over a
//! training run), against a ~100 µs product: the wake-up, not the
//! arithmetic, was the price of the second thread. [`with_hot_workers`] runs
//! a closure while the other threads of rayon's current pool spin, waiting
//! for work, inside a rayon scope; the kernels' parallel regions
//! ([`crate::kernels::parallel`]) then hand their pieces to the spinning workers
//! through one atomic word, and start within a microsecond.
//!
//! The work still runs on rayon's pool (its size, `RAYON_NUM_THREADS`, and the
//! flush-to-zero mode of its threads apply), and the pieces of a region are
//! the same blocks as without hot workers, so results are bitwise the same.
//!
//! ## The protocol
//! One 64-bit word holds `(sequence, next piece, pieces)`. The owner (the
//! thread that called [`with_hot_workers`]) publishes a job by writing the
//! job's closure pointer and then the word with a new sequence number
//! (release). Every thread, the owner included, claims pieces by
//! compare-and-swap on the word, runs them, and counts them done; the owner
//! returns once all pieces are done. A worker reads the closure pointer only
//! after a successful claim, and the owner replaces it only after every
//! piece of the previous job is done, so the pointer a worker reads is always
//! the live one. Nothing waits for a worker to arrive: with no worker
//! spinning (say, one still picking up its task) the owner runs every piece
//! itself.
//!
//! ## Background work
//! [`overlap`] posts one job that a spinning worker runs when no region has a
//! piece left for it, while the owner goes on (a training step prepares the
//! next batch this way). A second word holds its state: posted, claimed,
//! done. The owner or a worker claims it by compare-and-swap; the owner then
//! waits until it is done before it returns, so the job's borrows never
//! outlive the call. With no worker free (or none at all) the owner runs it.

use std::any::Any;
use std::cell::{Cell, UnsafeCell};
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, AtomicU8, AtomicU64, AtomicUsize, Ordering};

/// A parallel region's work: called once per piece index.
type Job<'a> = &'a (dyn Fn(usize) + Sync);

/// The most pieces one region may have (the word keeps 16 bits for each count), the most
/// blocks [`crate::kernels::parallel`] cuts a product into.
use crate::kernels::parallel::MAX_PIECES;

/// Idle spins after which a waiting worker starts yielding its CPU between polls.
const SPINS_BEFORE_YIELD: u32 = 1 << 16;

/// How long [`with_hot_workers`] waits at most for its workers to start spinning.
const ARRIVAL_WAIT: std::time::Duration = std::time::Duration::from_millis(2);

/// The state shared by the owner and its spinning workers.
struct Team {
    /// `(sequence << 32) | (next piece << 16) | pieces`.
    word: AtomicU64,
    /// Pieces of the current job finished so far.
    done: AtomicUsize,
    /// Set once `f` has returned: the workers leave.
    stop: AtomicBool,
    /// The current job; see the module docs for when it may be read or written.
    job: UnsafeCell<Option<Job<'static>>>,
    /// rayon's index of the owner thread (`None` outside a pool).
    owner: Option<usize>,
    /// Whether the owner is inside a region (a nested region runs inline).
    busy: AtomicBool,
    /// Set when a piece panicked on a worker; the owner re-raises it.
    panicked: AtomicBool,
    /// Workers that have started spinning.
    arrived: AtomicUsize,
    /// The background job's state: [`IDLE`], [`POSTED`], [`CLAIMED`] or [`DONE`].
    background: AtomicU8,
    /// The background job while it is posted or claimed; see the module docs.
    background_job: UnsafeCell<Option<&'static (dyn Fn() + Sync)>>,
    /// The background job's panic, wherever it ran; the owner re-raises it.
    background_panic: Mutex<Option<Box<dyn Any + Send>>>,
}

/// No background job.
const IDLE: u8 = 0;
/// A background job waits for a thread to claim it.
const POSTED: u8 = 1;
/// A thread runs the background job.
const CLAIMED: u8 = 2;
/// The background job has run.
const DONE: u8 = 3;

// SAFETY: `job` is written only by the owner while no piece of a job is
// claimed-but-unfinished, and read by a worker only after it has claimed a
// piece of that job (see the module docs); `background_job` is written only by
// the owner while no background job is posted or claimed, and read only by the
// thread that moved `background` from POSTED to CLAIMED; everything else is
// atomic.
unsafe impl Sync for Team {}

thread_local! {
    /// The team owned by this thread, while it runs [`with_hot_workers`].
    static CURRENT: Cell<*const Team> = const { Cell::new(std::ptr::null()) };
}

fn pack(seq: u64, next: usize, pieces: usize) -> u64 {
    (seq << 32) | ((next as u64) << 16) | pieces as u64
}

fn unpack(w: u64) -> (u64, usize, usize) {
    (
        w >> 32,
        ((w >> 16) & 0xffff) as usize,
        (w & 0xffff) as usize,
    )
}

impl Team {
    /// Claims and runs pieces of the job published in `w` until none is left.
    /// Returns how many this thread ran.
    fn work(&self, mut w: u64) -> usize {
        let mut ran = 0;
        loop {
            let (seq, next, pieces) = unpack(w);
            if next >= pieces {
                return ran;
            }
            match self.word.compare_exchange_weak(
                w,
                pack(seq, next + 1, pieces),
                Ordering::AcqRel,
                Ordering::Acquire,
            ) {
                Ok(_) => {
                    // SAFETY: piece `next` of this job is claimed and not yet
                    // done, so the owner cannot have replaced the job; the
                    // acquire above orders this read after the owner's write.
                    let job = unsafe { (*self.job.get()).expect("a published job") };
                    // A panicking piece must still count as done, or the owner
                    // would wait for it forever; the owner re-raises it.
                    let ok = catch_unwind(AssertUnwindSafe(|| job(next))).is_ok();
                    if !ok {
                        self.panicked.store(true, Ordering::Relaxed);
                    }
                    self.done.fetch_add(1, Ordering::Release);
                    ran += 1;
                    w = self.word.load(Ordering::Acquire);
                }
                Err(now) => {
                    if unpack(now).0 != seq {
                        return ran;
                    }
                    w = now;
                }
            }
        }
    }

    /// A spinning worker's loop: runs pieces of every job published until `stop`.
    fn spin(&self) {
        if rayon::current_thread_index() == self.owner && self.owner.is_some() {
            // The owner popped its own spawned task (e.g. while waiting inside
            // a join): it must not spin on itself.
            return;
        }
        self.arrived.fetch_add(1, Ordering::Release);
        let mut idle = 0u32;
        let mut seen = u64::MAX;
        while !self.stop.load(Ordering::Acquire) {
            let w = self.word.load(Ordering::Acquire);
            let (seq, next, pieces) = unpack(w);
            if seq != seen && next < pieces {
                self.work(w);
                seen = seq;
                idle = 0;
                continue;
            }
            if self.run_background() {
                idle = 0;
                continue;
            }
            idle = idle.saturating_add(1);
            if idle >= SPINS_BEFORE_YIELD {
                std::thread::yield_now();
            } else {
                std::hint::spin_loop();
            }
        }
    }

    /// Claims the posted background job, if there is one, and runs it. Returns whether it did.
    fn run_background(&self) -> bool {
        if self.background.load(Ordering::Relaxed) != POSTED
            || self
                .background
                .compare_exchange(POSTED, CLAIMED, Ordering::Acquire, Ordering::Relaxed)
                .is_err()
        {
            return false;
        }
        // SAFETY: this thread moved the job from POSTED to CLAIMED, so the owner
        // wrote it before (ordered by the acquire) and will not replace it until
        // this thread stores DONE.
        let job = unsafe { (*self.background_job.get()).expect("a posted job") };
        if let Err(payload) = catch_unwind(AssertUnwindSafe(job)) {
            *self
                .background_panic
                .lock()
                .unwrap_or_else(|e| e.into_inner()) = Some(payload);
        }
        self.background.store(DONE, Ordering::Release);
        true
    }

    /// Posts `job` for a worker, runs `f`, then runs `job` here unless a worker has taken it,
    /// and returns once it is done.
    fn overlap<R>(&self, job: &(dyn Fn() + Sync), f: impl FnOnce() -> R) -> R {
        // SAFETY: no background job is posted or claimed (the previous call waited for its
        // job to be done and reset the state), so no thread reads the slot; the lifetime is
        // erased only until this call returns, after the job has run.
        unsafe {
            *self.background_job.get() = Some(std::mem::transmute::<
                &(dyn Fn() + Sync),
                &'static (dyn Fn() + Sync),
            >(job));
        }
        self.background.store(POSTED, Ordering::Release);
        // The job is still run, and waited for, if `f` panics.
        struct Finish<'a>(&'a Team);
        impl Drop for Finish<'_> {
            fn drop(&mut self) {
                let team = self.0;
                team.run_background();
                while team.background.load(Ordering::Acquire) != DONE {
                    std::hint::spin_loop();
                }
                // SAFETY: the job is done; nobody else reads the slot until the next post.
                unsafe { *team.background_job.get() = None };
                team.background.store(IDLE, Ordering::Relaxed);
                if std::thread::panicking() {
                    // `f` panicked: that panic goes on; the job's, if any, is dropped.
                    team.take_background_panic();
                }
            }
        }
        let r = {
            let _finish = Finish(self);
            f()
        };
        if let Some(payload) = self.take_background_panic() {
            std::panic::resume_unwind(payload);
        }
        r
    }

    /// The background job's panic, if it panicked, taken out.
    fn take_background_panic(&self) -> Option<Box<dyn Any + Send>> {
        let mut panic = self
            .background_panic
            .lock()
            .unwrap_or_else(|e| e.into_inner());
        panic.take()
    }

    /// Runs `f(0..pieces)` over the owner and the spinning workers.
    fn run(&self, pieces: usize, f: Job<'_>) {
        debug_assert!(pieces <= MAX_PIECES);
        let (seq, _, _) = unpack(self.word.load(Ordering::Relaxed));
        let seq = (seq + 1) & 0xffff_ffff;
        // SAFETY: every piece of the previous job is done (the owner waited
        // for them), so no worker holds or is about to read the old pointer;
        // the lifetime is erased only for the duration of this call, which
        // returns after the last piece has run.
        unsafe {
            *self.job.get() = Some(std::mem::transmute::<Job<'_>, Job<'static>>(f));
        }
        self.done.store(0, Ordering::Relaxed);
        let w = pack(seq, 0, pieces);
        self.word.store(w, Ordering::Release);
        self.work(w);
        while self.done.load(Ordering::Acquire) < pieces {
            std::hint::spin_loop();
        }
        // SAFETY: all pieces are done; no worker can claim this job any more.
        unsafe { *self.job.get() = None };
        if self.panicked.swap(false, Ordering::Relaxed) {
            panic!("a piece of a parallel kernel region panicked");
        }
    }
}

/// Runs `f` on the calling thread while the other threads of rayon's current
/// pool spin, ready to take the kernels' parallel work (see the module docs).
/// With a one-thread pool, or when already inside `with_hot_workers`, it just
/// calls `f`.
///
/// The spinning workers take no other rayon work meanwhile: inside `f`, rayon
/// parallelism other than the kernels' runs on the calling thread (or, when
/// the caller is not a pool thread, on the one worker left free). Use it
/// around a loop of training steps, not around code that idles (the workers
/// spin, yielding their CPU after ~1 ms without work).
pub fn with_hot_workers<R>(f: impl FnOnce() -> R) -> R {
    let threads = rayon::current_num_threads();
    let nested = CURRENT.with(|c| !c.get().is_null());
    if threads < 2 || nested {
        return f();
    }
    let team = Team {
        word: AtomicU64::new(0),
        done: AtomicUsize::new(0),
        stop: AtomicBool::new(false),
        job: UnsafeCell::new(None),
        owner: rayon::current_thread_index(),
        busy: AtomicBool::new(false),
        panicked: AtomicBool::new(false),
        arrived: AtomicUsize::new(0),
        background: AtomicU8::new(IDLE),
        background_job: UnsafeCell::new(None),
        background_panic: Mutex::new(None),
    };
    // The caller's thread counts as one of the pool's threads when it is one
    // of them; otherwise one worker stays free for any other rayon work.
    let spinners = threads - 1;
    rayon::in_place_scope(|s| {
        for _ in 0..spinners {
            let team = &team;
            s.spawn(move |_| team.spin());
        }
        struct Reset<'a>(&'a Team);
        impl Drop for Reset<'_> {
            fn drop(&mut self) {
                CURRENT.with(|c| c.set(std::ptr::null()));
                self.0.stop.store(true, Ordering::Release);
            }
        }
        CURRENT.with(|c| c.set(&team));
        let _reset = Reset(&team);
        // Give sleeping workers a moment to take their spinning task, so the
        // first regions do not run on this thread alone. (Not required: the
        // protocol never waits for a worker.)
        let start = std::time::Instant::now();
        while team.arrived.load(Ordering::Acquire) < spinners && start.elapsed() < ARRIVAL_WAIT {
            std::thread::yield_now();
        }
        f()
    })
}

/// Runs `f(i)` for every `i` in `0..pieces` on this thread's hot team, if it
/// owns one and is not already inside a region; returns `false` (having run
/// nothing) otherwise.
pub(crate) fn try_run(pieces: usize, f: Job<'_>) -> bool {
    let team = CURRENT.with(|c| c.get());
    if team.is_null() || pieces > MAX_PIECES {
        return false;
    }
    // SAFETY: CURRENT points to the team on `with_hot_workers`' stack frame,
    // which is live until it resets CURRENT (on the same thread) on exit.
    let team = unsafe { &*team };
    if team.busy.swap(true, Ordering::Relaxed) {
        return false;
    }
    struct Idle<'a>(&'a Team);
    impl Drop for Idle<'_> {
        fn drop(&mut self) {
            self.0.busy.store(false, Ordering::Relaxed);
        }
    }
    let _idle = Idle(team);
    team.run(pieces, f);
    true
}

/// Whether this thread owns hot workers now (its parallel regions start at once).
pub(crate) fn is_hot() -> bool {
    CURRENT.with(|c| !c.get().is_null())
}

/// Runs `background` and `f`, and returns what each returns: `background` on a hot worker
/// when this thread owns a team ([`with_hot_workers`]) and a worker is free to take it before
/// `f` has finished, on this thread after `f` otherwise. The two must not depend on each
/// other's effects. `background` must not use rayon (the kernels' parallel regions included):
/// on a worker it runs inside the worker's spinning task, and a worker that took part of a
/// `rayon::join` there could end up waiting on a task that never ends. A panic in it reaches
/// the caller, after `f` has returned.
pub fn overlap<A: Send, B>(background: impl FnOnce() -> A + Send, f: impl FnOnce() -> B) -> (A, B) {
    let team = CURRENT.with(|c| c.get());
    if team.is_null() {
        let b = f();
        return (background(), b);
    }
    // SAFETY: as in `try_run`: the team outlives this call, on this thread's stack.
    let team = unsafe { &*team };
    if team.background.load(Ordering::Relaxed) != IDLE {
        // Called inside another `overlap`'s `f`: one background job at a time.
        let b = f();
        return (background(), b);
    }
    let slot = std::sync::Mutex::new((Some(background), None));
    let job = || {
        let mut s = slot.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(g) = s.0.take() {
            s.1 = Some(g());
        }
    };
    let b = team.overlap(&job, f);
    let a = slot
        .into_inner()
        .unwrap_or_else(|e| e.into_inner())
        .1
        .expect("the background job ran");
    (a, b)
}
