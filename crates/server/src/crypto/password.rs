//! Password hashing: argon2id PHC strings, with at most one hash per core at a time (each holds a 19 MiB work
//! area) and the work areas handed from a finished hash to the next.

use argon2::password_hash::{self, Output, ParamsString, PasswordHash, Salt, SaltString};
use argon2::{Algorithm, Argon2, Block, Params, Version};
use rand::rngs::OsRng;
use std::sync::atomic::Ordering;

use super::random_token;

fn argon2_params() -> Params {
    // OWASP: argon2id, m = 19 MiB, t = 2, p = 1.
    Params::new(19 * 1024, 2, 1, None).expect("valid argon2 parameters")
}

/// Bounds the argon2id hashes running at once to the number of cores, and hands a finished hash's work area to
/// the next one. Each hash holds 19 MiB: more of them than cores adds memory (64 concurrent logins would hold
/// 1.2 GB) and latency, never throughput. A new work area costs page faults on its first write (fewer since
/// [`new_area`] asks for huge pages, see there), so a hash that finishes while others wait for a core leaves its
/// area for the next hash to take one; a hash that finishes with none waiting frees every area left, so an idle
/// process keeps none. Spare areas and running hashes together never exceed the limit. Process-wide, like the
/// cores and the memory it guards.
struct HashGate {
    state: std::sync::Mutex<GateState>,
    /// Callers blocked in [`HashGate::enter`] (for `/metrics`). Changed only under `state`'s lock.
    waiting: std::sync::atomic::AtomicUsize,
    freed: std::sync::Condvar,
    limit: usize,
}

#[derive(Default)]
struct GateState {
    running: usize,
    /// Work areas of finished hashes, left for the next hashes to take a core.
    spare: Vec<Vec<Block>>,
}

/// A core's turn to hash, with a work area: a finished hash's when one was left, else empty until [`Self::hash`].
struct HashSlot {
    gate: &'static HashGate,
    memory: Vec<Block>,
}

impl HashGate {
    fn new(limit: usize) -> HashGate {
        HashGate {
            state: std::sync::Mutex::new(GateState::default()),
            waiting: std::sync::atomic::AtomicUsize::new(0),
            freed: std::sync::Condvar::new(),
            limit,
        }
    }

    fn get() -> &'static HashGate {
        static GATE: std::sync::OnceLock<HashGate> = std::sync::OnceLock::new();
        GATE.get_or_init(|| {
            keep_large_blocks_mapped();
            HashGate::new(std::thread::available_parallelism().map_or(1, |n| n.get()))
        })
    }

    fn enter(&'static self) -> HashSlot {
        let mut state = self.lock();
        if state.running >= self.limit {
            self.waiting.fetch_add(1, Ordering::Relaxed);
            while state.running >= self.limit {
                state = self.freed.wait(state).unwrap_or_else(|e| e.into_inner());
            }
            self.waiting.fetch_sub(1, Ordering::Relaxed);
        }
        state.running += 1;
        let memory = state.spare.pop().unwrap_or_default();
        HashSlot { gate: self, memory }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, GateState> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }
}

impl HashSlot {
    /// `out_len` bytes of argon2 output of `password` and `salt` (raw bytes), in this slot's work area. The area
    /// is written before it is read, whatever a previous hash left in it (pass 0 assigns every block). An area of
    /// another size (a stored hash may have other parameters than [`argon2_params`]) is replaced by a new one of
    /// the size `argon` needs: a larger one would keep the blocks past that size, another password's, as long as
    /// it is handed on.
    fn hash(
        &mut self,
        argon: &Argon2<'_>,
        password: &[u8],
        salt: &[u8],
        out_len: usize,
    ) -> password_hash::Result<Output> {
        let blocks = argon.params().block_count();
        if self.memory.len() != blocks {
            self.memory = new_area(blocks);
        }
        Output::init_with(out_len, |out| {
            Ok(argon.hash_password_into_with_memory(password, salt, out, &mut self.memory)?)
        })
    }
}

/// A new work area of `blocks` zeroed blocks. The kernel is asked to back it with transparent huge pages (where
/// `/sys/kernel/mm/transparent_hugepage/enabled` allows `madvise`) before it is first written: the first write
/// then takes a fault per 2 MiB instead of one per 4 KiB page (~4,900 for 19 MiB, a third of a lone hash's time
/// on a virtual machine, BENCHMARKS.md fourteenth pass). Freeing the area unmaps it as before
/// (`keep_large_blocks_mapped`), so an idle process holds no more memory than without. Where the kernel's
/// `transparent_hugepage/defrag` is `madvise` (the usual default) such a fault may compact memory to find a huge
/// page, and where none is found it falls back to ordinary pages: the worst case is the cost without the advice
/// plus that attempt.
fn new_area(blocks: usize) -> Vec<Block> {
    let mut area: Vec<Block> = Vec::with_capacity(blocks);
    advise_huge_pages(
        area.as_mut_ptr().cast(),
        blocks * std::mem::size_of::<Block>(),
    );
    area.resize(blocks, Block::default());
    area
}

/// `madvise(MADV_HUGEPAGE)` over the whole pages of `len` bytes at `start`; a hint: refused or unsupported, the
/// area keeps ordinary pages. Not for less than a huge page: such an allocation may share its pages and mapping
/// with others in the heap (only blocks of 1 MiB and more are mapped on their own), and could not use one anyway.
fn advise_huge_pages(start: *mut u8, len: usize) {
    #[cfg(target_os = "linux")]
    {
        const HUGE_PAGE: usize = 2 << 20;
        // SAFETY: sysconf only reads a system constant.
        let page = usize::try_from(unsafe { libc::sysconf(libc::_SC_PAGESIZE) }).unwrap_or(0);
        if len < HUGE_PAGE || page == 0 {
            return;
        }
        let offset = (start as usize).next_multiple_of(page) - start as usize;
        let whole = len.saturating_sub(offset) / page * page;
        if whole > 0 {
            // SAFETY: the range lies inside the allocation of `len` bytes at `start`, which this function's caller
            // owns and has not handed out; MADV_HUGEPAGE changes how the kernel backs it, not its contents.
            unsafe {
                libc::madvise(start.add(offset).cast(), whole, libc::MADV_HUGEPAGE);
            }
        }
    }
    #[cfg(not(target_os = "linux"))]
    let _ = (start, len);
}

impl Drop for HashSlot {
    fn drop(&mut self) {
        let memory = std::mem::take(&mut self.memory);
        let mut state = self.gate.lock();
        state.running -= 1;
        let freed = if self.gate.waiting.load(Ordering::Relaxed) > 0 {
            state.spare.push(memory);
            Vec::new()
        } else {
            let mut all = std::mem::take(&mut state.spare);
            all.push(memory);
            all
        };
        drop(state);
        self.gate.freed.notify_one();
        drop(freed); // unmapped outside the lock
    }
}

/// argon2id hashes `(running, waiting for a core)` in this process, for `/metrics`.
pub fn hashes_in_progress() -> (usize, usize) {
    let gate = HashGate::get();
    let running = gate.lock().running;
    (running, gate.waiting.load(Ordering::Relaxed))
}

/// A place in the queue of password hashes: at most [`HashTicket::MAX`] checks may be running or waiting at
/// once. Beyond that a sign-in is answered 503 at once instead of piling up blocking threads (and, behind them,
/// 19 MiB each) under a guessing flood.
pub struct HashTicket(());

static HASH_TICKETS: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);

impl HashTicket {
    pub const MAX: usize = 64;

    /// A ticket, or `None` when the queue is full.
    pub fn take() -> Option<HashTicket> {
        use std::sync::atomic::Ordering;
        HASH_TICKETS
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |n| {
                (n < Self::MAX).then_some(n + 1)
            })
            .ok()
            .map(|_| HashTicket(()))
    }
}

impl Drop for HashTicket {
    fn drop(&mut self) {
        HASH_TICKETS.fetch_sub(1, std::sync::atomic::Ordering::AcqRel);
    }
}

/// glibc raises its mmap threshold to fit a freed 19 MiB argon2 block, so from the second hash on such blocks
/// come from a thread's arena, whose top it never gives back (not even to `malloc_trim`): idle RSS 33 MB instead
/// of 14 MB, and hundreds of MB after a burst of logins. A fixed threshold keeps blocks of 1 MiB and more mapped
/// on their own, so freeing one returns it to the OS. Measured cost: none within noise (41 argon2id/s either way).
fn keep_large_blocks_mapped() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: mallopt only changes the allocator's tuning, under glibc's own lock.
    unsafe {
        libc::mallopt(libc::M_MMAP_THRESHOLD, 1 << 20);
    }
}

/// argon2id PHC string of a password. CPU-heavy: call from `spawn_blocking`.
pub fn hash_password(password: &str) -> String {
    let salt = SaltString::generate(&mut OsRng);
    let mut salt_bytes = [0u8; Salt::MAX_LENGTH];
    let salt_bytes = salt
        .decode_b64(&mut salt_bytes)
        .expect("a generated salt decodes");
    let params = argon2_params();
    let argon = Argon2::new(Algorithm::Argon2id, Version::V0x13, params.clone());
    let output = HashGate::get()
        .enter()
        .hash(
            &argon,
            password.as_bytes(),
            salt_bytes,
            Params::DEFAULT_OUTPUT_LEN,
        )
        .expect("argon2 hashing cannot fail with valid params");
    PasswordHash {
        algorithm: Algorithm::Argon2id.ident(),
        version: Some(Version::V0x13.into()),
        params: ParamsString::try_from(&params).expect("argon2 parameters fit a PHC string"),
        salt: Some(salt.as_salt()),
        hash: Some(output),
    }
    .to_string()
}

/// Checks a password against a PHC string, with the algorithm, version and parameters it names (as
/// `PasswordVerifier` does). The outputs are compared in constant time (`Output`'s equality). CPU-heavy: call
/// from `spawn_blocking`.
pub fn verify_password(password: &str, phc: &str) -> bool {
    let Ok(hash) = PasswordHash::new(phc) else {
        return false;
    };
    let (Some(salt), Some(expected)) = (hash.salt, hash.hash) else {
        return false;
    };
    let mut salt_bytes = [0u8; Salt::MAX_LENGTH];
    let (Ok(argon), Ok(salt)) = (hasher_for(&hash), salt.decode_b64(&mut salt_bytes)) else {
        return false;
    };
    HashGate::get()
        .enter()
        .hash(&argon, password.as_bytes(), salt, expected.len())
        .is_ok_and(|computed| computed == expected)
}

/// The hasher a PHC string names: its algorithm, version (0x13 when it names none) and parameters, the output
/// length among them.
fn hasher_for(hash: &PasswordHash<'_>) -> password_hash::Result<Argon2<'static>> {
    let version = hash.version.map(Version::try_from).transpose()?;
    Ok(Argon2::new(
        Algorithm::try_from(hash.algorithm)?,
        version.unwrap_or_default(),
        Params::try_from(hash)?,
    ))
}

/// A PHC string for a password nobody knows: verifying against it costs the same as a real one, so an unknown
/// username takes as long as a wrong password.
pub fn dummy_password_hash() -> &'static str {
    static DUMMY: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    DUMMY.get_or_init(|| hash_password(&random_token(16)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn passwords_are_hashed_and_verified_as_the_argon2_crate_does() {
        use argon2::password_hash::{PasswordHasher, PasswordVerifier};
        let phc = hash_password("correct horse");
        assert!(phc.starts_with("$argon2id$v=19$m=19456,t=2,p=1$"), "{phc}");
        let stock = Argon2::new(Algorithm::Argon2id, Version::V0x13, argon2_params());
        let parsed = PasswordHash::new(&phc).unwrap();
        assert!(stock.verify_password(b"correct horse", &parsed).is_ok());
        assert!(verify_password("correct horse", &phc));
        assert!(!verify_password("correct horsf", &phc));

        // Hashes made elsewhere with other algorithms, versions, costs and output lengths verify by what they name.
        let salt = SaltString::generate(&mut OsRng);
        for (algorithm, version, m, t, len) in [
            (Algorithm::Argon2id, Version::V0x13, 64, 1, 32),
            (Algorithm::Argon2i, Version::V0x13, 32, 3, 16),
            (Algorithm::Argon2d, Version::V0x10, 16, 1, 64),
        ] {
            let params = Params::new(m, t, 1, Some(len)).unwrap();
            let other = Argon2::new(algorithm, version, params)
                .hash_password(b"pw", &salt)
                .unwrap()
                .to_string();
            assert!(verify_password("pw", &other), "{other}");
            assert!(!verify_password("pW", &other), "{other}");
        }

        // Anything that is not a whole argon2 PHC string verifies nothing: a salt of 5 base64 characters parses
        // but does not decode.
        let (no_output, output) = phc.rsplit_once('$').unwrap();
        let bad_salt = format!("$argon2id$v=19$m=19456,t=2,p=1$abcde${output}");
        assert!(PasswordHash::new(&bad_salt).is_ok());
        for bad in [
            "",
            "not a phc string",
            no_output,
            &bad_salt,
            &phc.replace("argon2id", "scrypt"),
        ] {
            assert!(!verify_password("correct horse", bad), "{bad}");
        }
    }

    #[test]
    fn a_finished_hash_hands_its_work_area_to_a_waiting_one() {
        let gate: &'static HashGate = Box::leak(Box::new(HashGate::new(1)));
        let argon = |m_cost: u32| {
            let params = Params::new(m_cost, 1, 1, None).unwrap();
            Argon2::new(Algorithm::Argon2id, Version::V0x13, params)
        };
        let fresh = |m_cost: u32, password: &[u8]| {
            let mut out = [0u8; 32];
            argon(m_cost)
                .hash_password_into(password, b"saltsaltsalt", &mut out)
                .unwrap();
            out
        };
        let mut first = gate.enter();
        first
            .hash(&argon(128), b"first", b"saltsaltsalt", 32)
            .unwrap();
        let area = first.memory.as_ptr() as usize;

        let waiter = std::thread::spawn(move || {
            let mut slot = gate.enter();
            let handed = (slot.memory.as_ptr() as usize, slot.memory.len());
            // In the handed area: what the previous password left in it changes nothing.
            let same_size = slot
                .hash(&argon(128), b"second", b"saltsaltsalt", 32)
                .unwrap();
            // A hash of another size gets an area of its own size.
            let other_size = slot
                .hash(&argon(64), b"third", b"saltsaltsalt", 32)
                .unwrap();
            (handed, same_size, other_size, slot.memory.len())
        });
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
        while gate.waiting.load(Ordering::Relaxed) == 0 {
            assert!(
                std::time::Instant::now() < deadline,
                "the second hash did not wait for the core"
            );
            std::thread::sleep(std::time::Duration::from_millis(1));
        }
        drop(first);
        let (handed, same_size, other_size, resized) = waiter.join().unwrap();
        assert_eq!(
            handed,
            (area, 128),
            "the waiting hash got the finished one's area"
        );
        assert_eq!(same_size.as_bytes(), fresh(128, b"second"));
        assert_eq!(other_size.as_bytes(), fresh(64, b"third"));
        assert_eq!(resized, 64);

        // The last hash finished with none waiting: nothing is kept.
        let state = gate.lock();
        assert_eq!((state.running, state.spare.len()), (0, 0));
    }

    #[test]
    fn a_hash_finishing_with_none_waiting_frees_every_spare_area() {
        // Two cores; a spare left by a hash whose waiter another hash overtook (the interleaving is not forced
        // here: the spare is put in place by hand).
        let gate: &'static HashGate = Box::leak(Box::new(HashGate::new(2)));
        let slot = gate.enter();
        gate.lock().spare.push(vec![Block::default(); 8]);
        drop(slot);
        let state = gate.lock();
        assert_eq!((state.running, state.spare.len()), (0, 0));
    }

    /// The flags (`VmFlags` of `/proc/self/smaps`) of the mapping that holds `area`'s middle.
    #[cfg(target_os = "linux")]
    fn mapping_flags(area: &[Block]) -> Vec<String> {
        let middle = area.as_ptr() as usize + std::mem::size_of_val(area) / 2;
        let smaps = std::fs::read_to_string("/proc/self/smaps").expect("/proc/self/smaps");
        let (mut inside, mut flags) = (false, None);
        for line in smaps.lines() {
            let range = line.split_once(' ').and_then(|(r, _)| r.split_once('-'));
            if let Some((from, to)) = range
                && let (Ok(from), Ok(to)) = (
                    usize::from_str_radix(from, 16),
                    usize::from_str_radix(to, 16),
                )
            {
                inside = (from..to).contains(&middle);
            } else if inside && let Some(f) = line.strip_prefix("VmFlags:") {
                flags = Some(f.split_whitespace().map(str::to_owned).collect());
            }
        }
        flags.expect("the area's mapping is listed in smaps")
    }

    /// A new work area is zeroed, and the kernel was asked for huge pages over it before its first write: the
    /// `hg` flag (`MADV_HUGEPAGE`) of its mapping in `/proc/self/smaps`.
    #[cfg(target_os = "linux")]
    #[test]
    fn a_new_work_area_is_zeroed_and_advised_to_use_huge_pages() {
        let area = new_area(argon2_params().block_count());
        assert_eq!(area.len(), 19 * 1024);
        assert!(area.iter().all(|b| b.as_ref().iter().all(|w| *w == 0)));
        let flags = mapping_flags(&area);
        assert!(flags.iter().any(|f| f == "hg"), "{flags:?}");
    }

    /// An area smaller than a huge page (a stored hash with a small `m`) comes from the heap, where it may share
    /// pages and a mapping with other allocations: it is not advised, so no heap mapping is split or marked.
    #[cfg(target_os = "linux")]
    #[test]
    fn a_work_area_below_a_huge_page_is_not_advised() {
        let area = new_area(64);
        assert_eq!(area.len(), 64);
        assert!(area.iter().all(|b| b.as_ref().iter().all(|w| *w == 0)));
        let flags = mapping_flags(&area);
        assert!(!flags.iter().any(|f| f == "hg"), "{flags:?}");
    }

    #[test]
    fn hash_tickets_are_bounded_and_given_back() {
        let held: Vec<HashTicket> = std::iter::from_fn(HashTicket::take).take(1000).collect();
        // Other tests may hold a few tickets at the same moment; never more than MAX are out.
        assert!(held.len() <= HashTicket::MAX && held.len() > HashTicket::MAX - 8);
        assert!(HashTicket::take().is_none());
        drop(held);
        assert!(HashTicket::take().is_some());
    }
}
