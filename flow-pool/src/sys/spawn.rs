//! Starting a program from an argument list and an environment prepared by the caller, and
//! watching it with a pidfd.
//!
//! # How a command starts
//!
//! As glibc's `posix_spawn` does it: `clone` with `CLONE_VM | CLONE_VFORK` (the child shares
//! this process's memory, and the calling thread waits until the child has called `execve`
//! or exited), with every signal blocked, and a child that sets itself up with plain system
//! calls before its `execve`: no handler of this process left, a session or process group of
//! its own, SIGKILL on this process's death where asked, its stdin, stdout and stderr, its
//! working directory, an empty signal mask. Not `posix_spawn`, which has no parent-death
//! signal (nor a working directory before glibc 2.29), so that every command starts one way,
//! and as it maps and unmaps a new stack for its child at every call (the child faults its
//! pages in, the unmap interrupts the other processors this process runs on).
//!
//! # Why not `std::process::Command`
//!
//! Once a command's environment differs from this process's (every command `flow run` starts
//! gets `FLOW_ID` and its friends), the standard library copies this process's whole
//! environment into fresh C strings at every spawn. The runner keeps one copy of the
//! environment, made when it was created, and hands the child pointers into it.
//!
//! # Safety argument
//!
//! - The child shares this process's memory, while the thread that cloned it waits and the
//!   other threads go on. So the child allocates nothing, takes no lock and touches no memory
//!   but its stack (a buffer in the waiting thread's frame, unused by anything else), the
//!   [`Setup`] it is given (in the same frame) and the strings and pointer arrays it points
//!   to (borrowed for the call, each array ended by a null pointer, only read). It makes
//!   async-signal-safe calls only (`sigaction`, `setsid`, `setpgid`, `prctl`, `getppid`,
//!   `dup2`, `fcntl`, `chdir`, `rt_sigprocmask` by the system call itself ([`set_mask`]),
//!   `execve`, `_exit`), and ends with `execve` or `_exit`, never returning into code of this
//!   process. A failed call leaves its `errno` in the `Setup` for the parent, which reads it
//!   once `clone` has returned.
//! - No handler of this process runs in the child: every signal is blocked in the calling
//!   thread before the `clone`, glibc's own two too (by the system call: [`set_mask`]), the
//!   child inherits that mask, and it sets every handled signal back to its default action
//!   before it unblocks them, just before its `execve`. glibc's own signals (between 32 and
//!   `SIGRTMIN`) keep glibc's handlers, which act only on a signal glibc sent to a thread of
//!   this process by its id: none reaches the child.
//! - The stack is aligned to 16 bytes, as the x86-64 and AArch64 calling conventions need,
//!   and the child's frames, glibc's wrappers' included, are small (under 2 KiB measured,
//!   against [`CHILD_STACK`]).
//! - glibc before 2.24 is refused: its `clone` wrote into the calling thread's cached ids
//!   when the child shared its memory ([`old_glibc`]).
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

use super::signals::{default_action, keeps_its_action, signal_is_ignored};
use super::Detach;

/// The bytes of the child's stack: far more than it uses.
const CHILD_STACK: usize = 16 * 1024;

/// How [`spawn`] starts a program.
pub(crate) struct How<'a> {
    /// Its working directory; `None` for this process's.
    pub cwd: Option<&'a CStr>,
    /// Its stdin, stdout and stderr. None may be 0, 1 or 2 unless it is that very stream: the
    /// duplications are made in order, so a later one would read an already replaced one.
    pub stdio: [BorrowedFd<'a>; 3],
    /// The signals it gets back at their default action (SIGPIPE among them, as
    /// `std::process::Command` does).
    pub defaults: &'a SignalDefaults,
    /// A new session or, as this says, a new process group: either way a process group whose
    /// id is its pid, with no controlling terminal.
    pub detach: Detach,
    /// Whether it gets SIGKILL when the thread that started it ends (`PR_SET_PDEATHSIG`: in
    /// practice, when this process dies); then it does not start if this process is gone
    /// already.
    pub kill_on_parent_death: bool,
}

/// Starts `path` with `argv` and `envp` as `how` says, with an empty signal mask. Returns its
/// pid.
///
/// # Errors
/// The error of the call that failed in the child: the program's `execve` (not found,
/// permission denied, not an executable), a bad working directory (`chdir`), or `ESRCH` when
/// this process died first; or `clone`'s lack of resources.
pub(crate) fn spawn<A: AsRef<CStr>, E: AsRef<CStr>>(
    path: &CStr,
    argv: &[A],
    envp: &[E],
    how: How<'_>,
) -> io::Result<u32> {
    if let Some(version) = old_glibc() {
        return Err(io::Error::new(
            io::ErrorKind::Unsupported,
            format!("glibc {version} cannot start commands as flow does: it needs 2.24 or later"),
        ));
    }
    let How {
        cwd,
        stdio,
        defaults,
        detach,
        kill_on_parent_death,
    } = how;
    let argv = null_terminated(argv);
    let envp = null_terminated(envp);
    let mut setup = Setup {
        path: path.as_ptr(),
        argv: argv.as_ptr(),
        envp: envp.as_ptr(),
        cwd: cwd.map_or(std::ptr::null(), CStr::as_ptr),
        stdio: stdio.map(|fd| fd.as_raw_fd()),
        defaults: defaults.0,
        detach,
        parent: kill_on_parent_death
            .then(|| libc::pid_t::try_from(std::process::id()).unwrap_or(libc::pid_t::MAX)),
        error: 0,
    };
    let mut stack = MaybeUninit::<[u8; CHILD_STACK]>::uninit();
    let top = (stack.as_mut_ptr() as usize + CHILD_STACK) & !15;
    let mut before: Mask = 0;
    set_mask(Mask::MAX, Some(&mut before))?;
    // SAFETY: see the module documentation. `setup`, `stack` and what `setup` points to live
    // across the call; the child has called `execve` or `_exit` when `clone` returns here.
    let pid = unsafe {
        libc::clone(
            child,
            top as *mut libc::c_void,
            libc::CLONE_VM | libc::CLONE_VFORK | libc::SIGCHLD,
            (&raw mut setup).cast(),
        )
    };
    let error = io::Error::last_os_error();
    // Cannot fail: `before` is the mask the kernel just gave. Not a `?`, which would leave
    // a started child unreaped.
    let _ = set_mask(before, None);
    if pid < 0 {
        return Err(error);
    }
    let pid = u32::try_from(pid).map_err(|_| io::Error::other("clone returned a bad pid"))?;
    if setup.error != 0 {
        // It has exited, with 127: reaped here, as `posix_spawn` does.
        let _ = reap(pid, true);
        return Err(io::Error::from_raw_os_error(setup.error));
    }
    Ok(pid)
}

/// What the child of [`spawn`] does before its `execve`, and where it leaves the `errno` of
/// a call that failed.
struct Setup {
    path: *const libc::c_char,
    argv: *const *mut libc::c_char,
    envp: *const *mut libc::c_char,
    /// Null for no change.
    cwd: *const libc::c_char,
    stdio: [libc::c_int; 3],
    defaults: libc::sigset_t,
    detach: Detach,
    /// This process, when the child is to die with it.
    parent: Option<libc::pid_t>,
    error: libc::c_int,
}

/// The child of [`spawn`]: sets itself up as `arg` (a [`Setup`]) says, then `execve`; on the
/// first failure, leaves its `errno` there and exits with 127.
extern "C" fn child(arg: *mut libc::c_void) -> libc::c_int {
    // SAFETY: see the module documentation: `arg` is the `Setup` of the waiting `spawn`,
    // whose pointers are valid; every call here is async-signal-safe.
    unsafe {
        let setup = &mut *arg.cast::<Setup>();
        let default = default_action();
        for signal in 1..=libc::SIGRTMAX() {
            if keeps_its_action(signal) {
                continue;
            }
            let reset = libc::sigismember(&setup.defaults, signal) == 1 || {
                let mut now = MaybeUninit::<libc::sigaction>::zeroed();
                libc::sigaction(signal, std::ptr::null(), now.as_mut_ptr()) == 0
                    && !matches!(
                        now.assume_init().sa_sigaction,
                        libc::SIG_DFL | libc::SIG_IGN
                    )
            };
            if reset {
                libc::sigaction(signal, &default, std::ptr::null_mut());
            }
        }
        let apart = match setup.detach {
            Detach::Session => libc::setsid(),
            Detach::Group => libc::setpgid(0, 0),
        };
        if apart < 0 {
            fail(setup);
        }
        if let Some(parent) = setup.parent {
            if libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL as libc::c_ulong) < 0 {
                fail(setup);
            }
            if libc::getppid() != parent {
                // This process died before the prctl took effect: no orphan is started.
                *libc::__errno_location() = libc::ESRCH;
                fail(setup);
            }
        }
        for (target, fd) in (0..).zip(setup.stdio) {
            // The same descriptor is kept, without its close-on-exec flag.
            let rc = if fd == target {
                libc::fcntl(fd, libc::F_SETFD, 0)
            } else {
                libc::dup2(fd, target)
            };
            if rc < 0 {
                fail(setup);
            }
        }
        if !setup.cwd.is_null() && libc::chdir(setup.cwd) < 0 {
            fail(setup);
        }
        if set_mask(0, None).is_err() {
            fail(setup);
        }
        libc::execve(setup.path, setup.argv.cast(), setup.envp.cast());
        fail(setup)
    }
}

/// The kernel's signal mask: one bit a signal, glibc's own two among them.
type Mask = u64;

/// Sets the calling thread's signal mask to `mask` with the system call itself (glibc's
/// wrappers leave its own two signals, 32 and 33, out of any mask), keeping the one it
/// replaces in `before`. Async-signal-safe, and it allocates nothing (the child calls it).
fn set_mask(mask: Mask, before: Option<&mut Mask>) -> io::Result<()> {
    let before = before.map_or(std::ptr::null_mut(), std::ptr::from_mut);
    // SAFETY: both pointers are valid for the size given, or null (no old mask wanted).
    let rc = unsafe {
        libc::syscall(
            libc::SYS_rt_sigprocmask,
            libc::SIG_SETMASK,
            &raw const mask,
            before,
            std::mem::size_of::<Mask>(),
        )
    };
    if rc < 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

/// This glibc's version, when it is older than 2.24: its `clone` wrote -1 into the calling
/// thread's cached pid and tid when the child shared the caller's memory (glibc bug 19957),
/// which would break `raise` and the owner of some mutexes in the thread that starts commands.
/// `None` for a newer glibc, or another C library.
fn old_glibc() -> Option<&'static str> {
    #[cfg(target_env = "gnu")]
    {
        static OLD: std::sync::OnceLock<Option<&'static str>> = std::sync::OnceLock::new();
        *OLD.get_or_init(|| {
            // SAFETY: glibc returns a string of its own, valid for the life of the process.
            let version = unsafe { CStr::from_ptr(libc::gnu_get_libc_version()) };
            let version = version.to_str().ok()?;
            glibc_older_than_2_24(version).then_some(version)
        })
    }
    #[cfg(not(target_env = "gnu"))]
    None
}

/// Whether a glibc version such as `2.23` or `2.36` is older than 2.24.
#[cfg_attr(not(target_env = "gnu"), allow(dead_code))]
fn glibc_older_than_2_24(version: &str) -> bool {
    let mut numbers = version.split('.').map(|n| n.parse::<u32>().unwrap_or(0));
    let major = numbers.next().unwrap_or(0);
    let minor = numbers.next().unwrap_or(0);
    (major, minor) < (2, 24)
}

/// Leaves the `errno` of the call that just failed in `setup` and ends the child.
fn fail(setup: &mut Setup) -> ! {
    // SAFETY: reading `errno` and `_exit` are async-signal-safe.
    unsafe {
        setup.error = *libc::__errno_location();
        libc::_exit(127)
    }
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

/// The signals a command gets back at their default action: every signal that was not
/// ignored when these were taken, and SIGPIPE (which Rust programs ignore). Any other keeps
/// its action at the spawn if that is "ignore", else goes back to its default too: a signal
/// stays ignored in a command when it was ignored when these were taken and still is.
///
/// The child of [`spawn`] must leave no handler of this process, so it visits every signal:
/// a signal in this set costs it one `sigaction`, any other two (a query, then a reset when
/// it is handled). Naming every signal that is not ignored halves the calls made while the
/// parent waits for the `execve`, with the outcome `std` gives: handled signals go back to
/// their default, ignored ones stay ignored.
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
                if !keeps_its_action(signal) && !signal_is_ignored(signal) {
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

#[cfg(test)]
mod tests {
    use std::io::Read;
    use std::os::fd::AsFd;

    use super::*;

    /// The `SigIgn` mask of `/proc/self/status` of a command started with `defaults`.
    fn ignored_in_a_command(defaults: &SignalDefaults) -> u64 {
        let (mut read, write) = std::io::pipe().unwrap();
        let null = std::fs::File::open("/dev/null").unwrap();
        let write = OwnedFd::from(write);
        let pid = spawn(
            c"/bin/grep",
            &[c"grep", c"^SigIgn:", c"/proc/self/status"],
            &[c"PATH=/bin"],
            How {
                cwd: None,
                stdio: [null.as_fd(), write.as_fd(), write.as_fd()],
                defaults,
                detach: Detach::now(),
                kill_on_parent_death: false,
            },
        )
        .unwrap();
        drop(write);
        let mut status = String::new();
        read.read_to_string(&mut status).unwrap();
        assert!(reap(pid, true).unwrap().unwrap().success(), "{status}");
        sig_ign(&status)
    }

    #[test]
    fn glibc_before_2_24_is_old() {
        for (version, old) in [
            ("2.17", true),
            ("2.23", true),
            ("2.24", false),
            ("2.36", false),
            ("3.0", false),
        ] {
            assert_eq!(glibc_older_than_2_24(version), old, "{version}");
        }
        assert_eq!(old_glibc(), None, "this machine's glibc is new");
    }

    /// The call that failed in the child gives `spawn` its error, and the child is reaped.
    #[test]
    fn the_childs_failed_call_is_the_error() {
        let null = std::fs::File::open("/dev/null").unwrap();
        let defaults = SignalDefaults::capture();
        let start = |path: &CStr, cwd: Option<&CStr>| {
            let how = How {
                cwd,
                stdio: [null.as_fd(), null.as_fd(), null.as_fd()],
                defaults: &defaults,
                detach: Detach::now(),
                kill_on_parent_death: true,
            };
            spawn(path, &[path], &[c"PATH=/bin"], how).map_err(|e| e.raw_os_error())
        };
        let cases: [(&CStr, Option<&CStr>, i32); 3] = [
            (c"/bin/true", Some(c"/no/such/folder"), libc::ENOENT),
            (c"/no/such/program", None, libc::ENOENT),
            (c"/tmp", None, libc::EACCES),
        ];
        for (path, cwd, errno) in cases {
            assert_eq!(start(path, cwd), Err(Some(errno)), "{path:?} in {cwd:?}");
        }
        let pid = start(c"/bin/true", Some(c"/")).unwrap();
        assert!(reap(pid, true).unwrap().unwrap().success());
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
        // glibc's own signals are left as they are.
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
