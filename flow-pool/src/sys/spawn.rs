//! Starting a program with `posix_spawn` from an argument list and an environment prepared by
//! the caller, and watching it with a pidfd.
//!
//! # Why not `std::process::Command`
//!
//! Once a command's environment differs from this process's (every command `flow run` starts
//! gets `FLOW_ID` and its friends), the standard library copies this process's whole
//! environment into a map and then into fresh C strings, at every spawn: four or five
//! allocations per variable. The runner keeps one copy of the environment, made when it was
//! created, and hands `posix_spawn` pointers into it.
//!
//! # Safety argument
//!
//! - `posix_spawn` gets pointer arrays built here from borrowed `CStr`s, each ended by a null
//!   pointer; the strings and the arrays live across the call, and libc only reads them.
//!   glibc's `posix_spawn` runs none of our code in the child: it clones with `CLONE_VFORK`,
//!   applies the file actions and attributes, and calls `execve`; an `execve` error comes back
//!   as the return value.
//! - The file-action and attribute objects live in a `Box`, so they never move once their
//!   `_init` function has initialised them; they are only used after that, through `&mut`,
//!   and destroyed once, by `Drop`.
//! - `posix_spawn_file_actions_addchdir_np` (glibc 2.29) is looked up with `dlsym`, as the
//!   standard library does, so that flow builds and runs on an older glibc; the pointer it
//!   returns is that function, whose C signature is the one it is called with.
//! - `pidfd_open` and `waitpid` take and return integers; the descriptor `pidfd_open` returns
//!   is new and owned by nobody else, so `OwnedFd::from_raw_fd` takes sole ownership of it,
//!   and tokio's `AsyncFd` then owns that `OwnedFd`, which stays open until it is dropped.
#![allow(unsafe_code)]

use std::ffi::CStr;
use std::io;
use std::mem::MaybeUninit;
use std::os::fd::{AsRawFd, BorrowedFd, FromRawFd, OwnedFd};
use std::os::unix::process::ExitStatusExt;
use std::process::ExitStatus;

use tokio::io::unix::AsyncFd;
use tokio::io::Interest;

use super::Detach;

/// Whether [`spawn`] can start a program in another working directory (glibc 2.29 or later).
pub(crate) fn spawn_can_chdir() -> bool {
    addchdir().is_some()
}

/// The signature of `posix_spawn_file_actions_addchdir_np`.
type AddChdir =
    unsafe extern "C" fn(*mut libc::posix_spawn_file_actions_t, *const libc::c_char) -> libc::c_int;

/// `posix_spawn_file_actions_addchdir_np`, if this glibc has it.
fn addchdir() -> Option<AddChdir> {
    static FUNCTION: std::sync::OnceLock<Option<AddChdir>> = std::sync::OnceLock::new();
    *FUNCTION.get_or_init(|| {
        // SAFETY: `dlsym` with a valid C string; see the module documentation for the cast.
        unsafe {
            let symbol = libc::dlsym(
                libc::RTLD_DEFAULT,
                c"posix_spawn_file_actions_addchdir_np".as_ptr(),
            );
            (!symbol.is_null()).then(|| std::mem::transmute::<*mut libc::c_void, AddChdir>(symbol))
        }
    })
}

/// Starts `path` with `argv` and `envp` in a new session or, as `detach` says, a new process
/// group (either way a process group whose id is its pid, with no controlling terminal), in
/// `cwd`
/// when given (only where [`spawn_can_chdir`]), with `stdio[0..3]` as its stdin, stdout and
/// stderr, an empty signal mask and the signals of `defaults` back to their default action
/// (SIGPIPE among them, as `std::process::Command` does). Returns its pid.
///
/// The descriptors in `stdio` must not be 0, 1 or 2 unless they are that very stream: the
/// duplications are made in order, so a later one would read an already replaced descriptor.
///
/// # Errors
/// The error `posix_spawn` returns: the program's `execve` error (not found, permission
/// denied, not an executable), a bad working directory, or a lack of resources;
/// `Unsupported` for a `cwd` this glibc cannot give.
pub(crate) fn spawn<A: AsRef<CStr>, E: AsRef<CStr>>(
    path: &CStr,
    argv: &[A],
    envp: &[E],
    cwd: Option<&CStr>,
    stdio: [BorrowedFd<'_>; 3],
    defaults: &SignalDefaults,
    detach: Detach,
) -> io::Result<u32> {
    let argv = null_terminated(argv);
    let envp = null_terminated(envp);
    let mut actions = FileActions::new()?;
    for (target, fd) in (0..).zip(stdio) {
        actions.dup2(fd, target)?;
    }
    if let Some(cwd) = cwd {
        actions.chdir(cwd)?;
    }
    let attributes = Attributes::new(defaults, detach)?;
    let mut pid: libc::pid_t = 0;
    // SAFETY: see the module documentation: every pointer is valid for the call, the arrays
    // end with a null pointer, and both objects were initialised.
    let rc = unsafe {
        libc::posix_spawn(
            &mut pid,
            path.as_ptr(),
            &*actions.0,
            &*attributes.0,
            argv.as_ptr(),
            envp.as_ptr(),
        )
    };
    check(rc)?;
    u32::try_from(pid).map_err(|_| io::Error::other("posix_spawn returned a negative pid"))
}

/// A pidfd of the process `pid` (a child of this process, not yet reaped), registered with
/// the current tokio runtime: it becomes readable when the process has ended. It is
/// close-on-exec.
///
/// # Errors
/// `ENOSYS` on kernels before Linux 5.3; `ESRCH` when there is no such process; the
/// runtime's error when it cannot watch the descriptor.
///
/// # Panics
/// Outside a tokio runtime with IO enabled (as tokio's own types do).
pub(crate) fn pidfd(pid: u32) -> io::Result<AsyncFd<OwnedFd>> {
    let fd = pidfd_open(pid)?;
    // SAFETY: an `OwnedFd` is open and always returns the same descriptor, and the `AsyncFd`
    // owns it until it is dropped.
    unsafe { AsyncFd::register_with_interest(fd, Interest::READABLE) }.map_err(io::Error::from)
}

/// A pidfd of the process `pid` (any process, not only a child): readable once it has ended.
/// Close-on-exec.
///
/// # Errors
/// `ENOSYS` on kernels before Linux 5.3; `ESRCH` when there is no such process.
pub(crate) fn pidfd_open(pid: u32) -> io::Result<OwnedFd> {
    let pid = libc::pid_t::try_from(pid).map_err(|_| io::Error::from_raw_os_error(libc::ESRCH))?;
    // SAFETY: a plain system call on integers.
    let fd = unsafe { libc::syscall(libc::SYS_pidfd_open, pid, 0) };
    if fd < 0 {
        return Err(io::Error::last_os_error());
    }
    let fd =
        i32::try_from(fd).map_err(|_| io::Error::other("pidfd_open returned no descriptor"))?;
    // SAFETY: the kernel just created this descriptor for us; nothing else owns it.
    Ok(unsafe { OwnedFd::from_raw_fd(fd) })
}

/// Reaps the child `pid` if it has ended (or, with `block`, once it has): its exit status, or
/// `None` when it still runs.
///
/// # Errors
/// `ECHILD` when `pid` is not an unreaped child of this process.
pub(crate) fn reap(pid: u32, block: bool) -> io::Result<Option<ExitStatus>> {
    let pid = libc::pid_t::try_from(pid).map_err(|_| io::Error::from_raw_os_error(libc::ECHILD))?;
    let flags = if block { 0 } else { libc::WNOHANG };
    loop {
        let mut status: libc::c_int = 0;
        // SAFETY: `status` is a valid place for the kernel to write an int.
        let rc = unsafe { libc::waitpid(pid, &mut status, flags) };
        match rc {
            0 => return Ok(None),
            rc if rc == pid => return Ok(Some(ExitStatus::from_raw(status))),
            _ => {
                let error = io::Error::last_os_error();
                if error.kind() != io::ErrorKind::Interrupted {
                    return Err(error);
                }
            }
        }
    }
}

/// The pointers of `strings`, then a null pointer, as `execve` wants them.
fn null_terminated<S: AsRef<CStr>>(strings: &[S]) -> Vec<*mut libc::c_char> {
    strings
        .iter()
        .map(|s| s.as_ref().as_ptr().cast_mut())
        .chain(std::iter::once(std::ptr::null_mut()))
        .collect()
}

/// A libc error code as a result.
fn check(rc: libc::c_int) -> io::Result<()> {
    if rc == 0 {
        Ok(())
    } else {
        Err(io::Error::from_raw_os_error(rc))
    }
}

/// `posix_spawn_file_actions_t`, in place in its box, destroyed on drop.
struct FileActions(Box<libc::posix_spawn_file_actions_t>);

impl FileActions {
    fn new() -> io::Result<Self> {
        let mut actions = Box::new(MaybeUninit::<libc::posix_spawn_file_actions_t>::uninit());
        // SAFETY: `_init` initialises the object it is given.
        check(unsafe { libc::posix_spawn_file_actions_init(actions.as_mut_ptr()) })?;
        // SAFETY: initialised just above; the box keeps it where it is.
        Ok(FileActions(unsafe { actions.assume_init() }))
    }

    fn dup2(&mut self, fd: BorrowedFd<'_>, target: libc::c_int) -> io::Result<()> {
        // SAFETY: an initialised object and two integers.
        check(unsafe {
            libc::posix_spawn_file_actions_adddup2(&mut *self.0, fd.as_raw_fd(), target)
        })
    }

    fn chdir(&mut self, dir: &CStr) -> io::Result<()> {
        let addchdir = addchdir().ok_or_else(|| {
            io::Error::new(
                io::ErrorKind::Unsupported,
                "this glibc cannot start a program in another directory with posix_spawn",
            )
        })?;
        // SAFETY: an initialised object and a valid C string (glibc copies it).
        check(unsafe { addchdir(&mut *self.0, dir.as_ptr()) })
    }
}

impl Drop for FileActions {
    fn drop(&mut self) {
        // SAFETY: initialised in `new`, destroyed only here.
        unsafe { libc::posix_spawn_file_actions_destroy(&mut *self.0) };
    }
}

/// The signals a command gets back at their default action: every signal that was not
/// ignored when these were taken, and SIGPIPE (which Rust programs ignore). Any other keeps
/// its action at the spawn if that is "ignore", else goes back to its default too: a signal
/// stays ignored in a command when it was ignored when these were taken and still is.
///
/// glibc's `posix_spawn` must leave no handler of this process in the child, so it visits
/// every signal in the child: a signal in this set costs one `sigaction` there, any other
/// two (a query, then a reset). Naming every signal that is not ignored halves the calls
/// made while the parent waits for the `execve`, with the outcome `std` gives: handled
/// signals go back to their default, ignored ones stay ignored.
#[derive(Clone, Copy)]
pub(crate) struct SignalDefaults(libc::sigset_t);

impl SignalDefaults {
    /// Every signal not ignored now, and SIGPIPE; glibc's own signals (between 32 and
    /// `SIGRTMIN`) are left to glibc, and SIGKILL and SIGSTOP, which keep their action anyway.
    pub(crate) fn capture() -> Self {
        let mut set = MaybeUninit::<libc::sigset_t>::zeroed();
        // SAFETY: the set is zeroed, then emptied by `sigemptyset`; `sigaction` with a null
        // new action only writes the current one into `current`, which is zeroed first.
        unsafe {
            libc::sigemptyset(set.as_mut_ptr());
            for signal in 1..=libc::SIGRTMAX() {
                if (32..libc::SIGRTMIN()).contains(&signal)
                    || signal == libc::SIGKILL
                    || signal == libc::SIGSTOP
                {
                    continue;
                }
                if !signal_is_ignored(signal) {
                    libc::sigaddset(set.as_mut_ptr(), signal);
                }
            }
            libc::sigaddset(set.as_mut_ptr(), libc::SIGPIPE);
            SignalDefaults(set.assume_init())
        }
    }

    /// Whether `signal` is in the set.
    #[cfg(test)]
    pub(crate) fn contains(&self, signal: libc::c_int) -> bool {
        // SAFETY: `sigismember` reads an initialised set.
        unsafe { libc::sigismember(&self.0, signal) == 1 }
    }
}

impl std::fmt::Debug for SignalDefaults {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SignalDefaults")
    }
}

/// Whether this process ignores `signal` now (`SIG_IGN`); also `true` for a number that is
/// not a signal. A program started with `nohup` ignores SIGHUP, for one.
pub fn signal_is_ignored(signal: libc::c_int) -> bool {
    let mut current = MaybeUninit::<libc::sigaction>::zeroed();
    // SAFETY: `sigaction` with a null new action only writes the current one into
    // `current`, which is zeroed first.
    unsafe {
        libc::sigaction(signal, std::ptr::null(), current.as_mut_ptr()) != 0
            || current.assume_init().sa_sigaction == libc::SIG_IGN
    }
}

/// Puts `signal` back to its default action (for SIGINT and SIGTERM: ending this process)
/// and unblocks it, dropping whatever handler this process had installed for it.
///
/// # Errors
/// `EINVAL` for a number that is not a signal or one whose action cannot change (SIGKILL).
pub fn restore_default_action(signal: libc::c_int) -> io::Result<()> {
    let mut default = MaybeUninit::<libc::sigaction>::zeroed();
    // SAFETY: a zeroed `sigaction` with `SIG_DFL` (0) as its handler and an empty mask is a
    // valid action that runs none of our code; `sigemptyset` initialises the mask it is given.
    let rc = unsafe {
        libc::sigemptyset(&mut (*default.as_mut_ptr()).sa_mask);
        (*default.as_mut_ptr()).sa_sigaction = libc::SIG_DFL;
        libc::sigaction(signal, default.as_ptr(), std::ptr::null_mut())
    };
    if rc != 0 {
        return Err(io::Error::last_os_error());
    }
    unblock(signal)
}

/// Unblocks `signal` in this thread (and so in the threads it starts later), whatever mask
/// this process was started with: a signal it means to handle must arrive.
///
/// # Errors
/// `EINVAL` for a number that is not a signal.
pub fn unblock(signal: libc::c_int) -> io::Result<()> {
    let set = one_signal(signal)?;
    // SAFETY: `set` is initialised; a null old set is allowed.
    check(unsafe { libc::pthread_sigmask(libc::SIG_UNBLOCK, &set, std::ptr::null_mut()) })
}

/// Blocks `signal` in this thread (and so in the threads it starts later): one that comes
/// meanwhile waits, pending, until it is unblocked ([`unblock`]) or taken ([`take_pending`]).
/// Commands started later get an empty mask all the same.
///
/// # Errors
/// `EINVAL` for a number that is not a signal.
pub fn block(signal: libc::c_int) -> io::Result<()> {
    let set = one_signal(signal)?;
    // SAFETY: `set` is initialised; a null old set is allowed.
    check(unsafe { libc::pthread_sigmask(libc::SIG_BLOCK, &set, std::ptr::null_mut()) })
}

/// Takes `signal` if it is pending, for this thread or the process (it is pending only while
/// every thread blocks it: see [`block`]), without waiting; whether it was. Taken, it is gone:
/// no handler runs for it when it is unblocked.
///
/// # Errors
/// `EINVAL` for a number that is not a signal.
pub fn take_pending(signal: libc::c_int) -> io::Result<bool> {
    let set = one_signal(signal)?;
    let now = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    loop {
        // SAFETY: `set` and `now` are initialised and only read; a null info is allowed.
        let taken = unsafe { libc::sigtimedwait(&set, std::ptr::null_mut(), &now) };
        if taken == signal {
            return Ok(true);
        }
        let error = io::Error::last_os_error();
        match error.raw_os_error() {
            Some(libc::EAGAIN) => return Ok(false),
            // Another signal's handler ran meanwhile.
            Some(libc::EINTR) => continue,
            _ => return Err(error),
        }
    }
}

/// The set of `signal` alone.
fn one_signal(signal: libc::c_int) -> io::Result<libc::sigset_t> {
    let mut set = MaybeUninit::<libc::sigset_t>::uninit();
    // SAFETY: `sigemptyset` initialises the set before `sigaddset` changes it, and only an
    // initialised set is returned.
    unsafe {
        libc::sigemptyset(set.as_mut_ptr());
        if libc::sigaddset(set.as_mut_ptr(), signal) != 0 {
            return Err(io::Error::last_os_error());
        }
        Ok(set.assume_init())
    }
}

/// `posix_spawnattr_t` for a command: its own session or process group, an empty signal mask, the
/// signals of a [`SignalDefaults`] to their default action. In place in its box, destroyed
/// on drop.
struct Attributes(Box<libc::posix_spawnattr_t>);

impl Attributes {
    fn new(defaults: &SignalDefaults, detach: Detach) -> io::Result<Self> {
        let mut attributes = Box::new(MaybeUninit::<libc::posix_spawnattr_t>::uninit());
        // SAFETY: `_init` initialises the object it is given.
        check(unsafe { libc::posix_spawnattr_init(attributes.as_mut_ptr()) })?;
        // SAFETY: initialised just above; the box keeps it where it is.
        let mut attributes = Attributes(unsafe { attributes.assume_init() });
        let mut signals = MaybeUninit::<libc::sigset_t>::uninit();
        // SAFETY: `sigemptyset` initialises the set; the later calls get initialised objects.
        unsafe {
            libc::sigemptyset(signals.as_mut_ptr());
            check(libc::posix_spawnattr_setsigmask(
                &mut *attributes.0,
                signals.as_ptr(),
            ))?;
            check(libc::posix_spawnattr_setsigdefault(
                &mut *attributes.0,
                &defaults.0,
            ))?;
            // The libc crate types POSIX_SPAWN_SETSID as c_short and the others as c_int.
            let apart = match detach {
                Detach::Session => libc::c_int::from(libc::POSIX_SPAWN_SETSID),
                Detach::Group => {
                    check(libc::posix_spawnattr_setpgroup(&mut *attributes.0, 0))?;
                    libc::POSIX_SPAWN_SETPGROUP
                }
            };
            let flags = apart | libc::POSIX_SPAWN_SETSIGMASK | libc::POSIX_SPAWN_SETSIGDEF;
            check(libc::posix_spawnattr_setflags(
                &mut *attributes.0,
                flags as libc::c_short,
            ))?;
        }
        Ok(attributes)
    }
}

impl Drop for Attributes {
    fn drop(&mut self) {
        // SAFETY: initialised in `new`, destroyed only here.
        unsafe { libc::posix_spawnattr_destroy(&mut *self.0) };
    }
}

#[cfg(test)]
mod tests {
    use std::io::Read;
    use std::os::fd::AsFd;

    use super::*;

    /// The mask `name` (`SigCgt`, `SigBlk`) of this thread, from `/proc/thread-self/status`.
    fn mask(name: &str) -> u64 {
        let status = std::fs::read_to_string("/proc/thread-self/status").unwrap();
        let mask = (status.lines())
            .find_map(|l| l.strip_prefix(&format!("{name}:")))
            .unwrap();
        u64::from_str_radix(mask.trim(), 16).unwrap()
    }

    /// A handled signal goes back to its default action, and a blocked one is unblocked.
    #[test]
    fn a_signal_gets_its_default_action_back_and_is_unblocked() {
        let bit = 1u64 << (libc::SIGUSR2 - 1);
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        let handler = runtime.block_on(async {
            tokio::signal::unix::signal(tokio::signal::unix::SignalKind::user_defined2())
        });
        assert!(handler.is_ok());
        assert_eq!(mask("SigCgt") & bit, bit, "handled");
        let blocked = nix::sys::signal::SigSet::from(nix::sys::signal::Signal::SIGUSR2);
        blocked.thread_block().unwrap();
        assert_eq!(mask("SigBlk") & bit, bit, "blocked");
        restore_default_action(libc::SIGUSR2).unwrap();
        assert_eq!(mask("SigCgt") & bit, 0, "no handler");
        assert_eq!(mask("SigBlk") & bit, 0, "unblocked");
        assert!(!signal_is_ignored(libc::SIGUSR2));
    }

    /// A blocked signal that came is pending until it is taken, once; none is taken before.
    /// (SIGWINCH: no other test of this crate uses it, and it is ignored by default.)
    #[test]
    fn a_blocked_signal_is_taken_once() {
        let bit = 1u64 << (libc::SIGWINCH - 1);
        block(libc::SIGWINCH).unwrap();
        assert_eq!(mask("SigBlk") & bit, bit, "blocked");
        assert!(!take_pending(libc::SIGWINCH).unwrap(), "none came");
        // SAFETY: `raise` sends the signal to this thread, which blocks it: no handler runs.
        assert_eq!(unsafe { libc::raise(libc::SIGWINCH) }, 0);
        assert!(take_pending(libc::SIGWINCH).unwrap(), "the one that came");
        assert!(!take_pending(libc::SIGWINCH).unwrap(), "taken once");
        unblock(libc::SIGWINCH).unwrap();
        assert_eq!(mask("SigBlk") & bit, 0, "unblocked");
    }

    /// The `SigIgn` mask of `/proc/self/status` of a command started with `defaults`.
    fn ignored_in_a_command(defaults: &SignalDefaults) -> u64 {
        let (mut read, write) = std::io::pipe().unwrap();
        let null = std::fs::File::open("/dev/null").unwrap();
        let write = OwnedFd::from(write);
        let pid = spawn(
            c"/bin/grep",
            &[c"grep", c"^SigIgn:", c"/proc/self/status"],
            &[c"PATH=/bin"],
            None,
            [null.as_fd(), write.as_fd(), write.as_fd()],
            defaults,
            Detach::now(),
        )
        .unwrap();
        drop(write);
        let mut status = String::new();
        read.read_to_string(&mut status).unwrap();
        assert!(reap(pid, true).unwrap().unwrap().success(), "{status}");
        sig_ign(&status)
    }

    /// The `SigIgn` mask in the text of a `/proc/PID/status`.
    fn sig_ign(status: &str) -> u64 {
        let mask = status
            .lines()
            .find_map(|l| l.strip_prefix("SigIgn:"))
            .unwrap();
        u64::from_str_radix(mask.trim(), 16).unwrap()
    }

    #[test]
    fn a_signal_ignored_when_the_defaults_are_taken_and_at_the_spawn_stays_ignored() {
        let bit = |signal: libc::c_int| 1u64 << (signal - 1);
        // SAFETY: setting a disposition to SIG_IGN or SIG_DFL runs no code of ours in a
        // handler. No other test of this crate uses SIGUSR1 or SIGUSR2; a command started
        // meanwhile only inherits SIGUSR2 ignored.
        // SIGUSR1 at its default, whatever this test was started with (a background job of a
        // shell starts with SIGINT and SIGQUIT ignored, for one).
        unsafe {
            libc::signal(libc::SIGUSR2, libc::SIG_IGN);
            libc::signal(libc::SIGUSR1, libc::SIG_DFL);
        }
        let defaults = SignalDefaults::capture();
        // Rust ignores SIGPIPE in this process; the command gets it at its default.
        assert!(defaults.contains(libc::SIGPIPE));
        assert!(defaults.contains(libc::SIGUSR1));
        assert!(!defaults.contains(libc::SIGUSR2));
        assert!(!defaults.contains(libc::SIGKILL));
        assert!(
            !defaults.contains(32),
            "glibc's own signals are left to glibc"
        );
        // glibc's own signals are ignored in the child until its `execve`, and stay so.
        let own = bit(32) | bit(33);
        let ignored = ignored_in_a_command(&defaults) & !own;
        assert_eq!(
            ignored & bit(libc::SIGUSR2),
            bit(libc::SIGUSR2),
            "{ignored:x}"
        );
        assert_eq!(ignored & bit(libc::SIGPIPE), 0, "{ignored:x}");
        // SAFETY: as above, back to the default action.
        unsafe { libc::signal(libc::SIGUSR2, libc::SIG_DFL) };
        // No longer ignored at the spawn: the command gets it at its default.
        let ignored = ignored_in_a_command(&defaults) & !own;
        assert_eq!(ignored & bit(libc::SIGUSR2), 0, "{ignored:x}");
        // Taken now: the command ignores what this process ignores, but SIGPIPE.
        let here = sig_ign(&std::fs::read_to_string("/proc/self/status").unwrap()) & !own;
        assert_eq!(here & bit(libc::SIGPIPE), bit(libc::SIGPIPE));
        let ignored = ignored_in_a_command(&SignalDefaults::capture()) & !own;
        assert_eq!(
            ignored,
            here & !bit(libc::SIGPIPE),
            "{ignored:x} against {here:x}"
        );
    }
}
