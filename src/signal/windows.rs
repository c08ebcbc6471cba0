//! The Windows glue: the console control handler (`SetConsoleCtrlHandler`).
//! Ctrl-C and Ctrl-Break are presses of [`Signal::Interrupt`]. The handler
//! runs on a thread of its own that Windows starts for each event, so it
//! wakes the loop directly (no pipe, no watcher); returning `FALSE` passes
//! the event on to the next handler, in the end the default one, which ends
//! the process. A handler the program registers later runs before ours, and
//! when it returns `TRUE` the press is the program's and never reaches us.

use windows_sys::Win32::Foundation::{FALSE, TRUE};
use windows_sys::Win32::Storage::FileSystem::WriteFile;
use windows_sys::Win32::System::Console::{
    CTRL_BREAK_EVENT, CTRL_C_EVENT, GetStdHandle, STD_ERROR_HANDLE, SetConsoleCtrlHandler,
};
use windows_sys::core::BOOL;

use super::{Press, Signal};

/// Registers our console control handler (once per process). SIGTERM has no
/// Windows counterpart here.
pub(super) fn install(signal: Signal) -> bool {
    if signal != Signal::Interrupt {
        return false;
    }
    // SAFETY: `handler` has the signature Windows expects and lives for the
    // whole process; registering it has no other precondition.
    unsafe { SetConsoleCtrlHandler(Some(handler), TRUE) != 0 }
}

/// Whether this is the process's main thread: the thread Rust's runtime
/// started `main` on (std names it "main"). A process whose `main` is not
/// Rust's has none, and takes no presses.
pub(super) fn is_main_thread() -> bool {
    thread_local! {
        static IS_MAIN: bool = std::thread::current().name() == Some("main");
    }
    IS_MAIN.with(|is_main| *is_main)
}

unsafe extern "system" fn handler(event: u32) -> BOOL {
    if event != CTRL_C_EVENT && event != CTRL_BREAK_EVENT {
        return FALSE;
    }
    match super::press(Signal::Interrupt, true) {
        Press::Handled => {
            super::wake_up();
            TRUE
        }
        Press::KillAfterLastWords => {
            super::say_last_words();
            FALSE
        }
        Press::Theirs | Press::Kill => FALSE,
    }
}

/// Writes `text` to stderr with `WriteFile`: no lock, unlike
/// `std::io::stderr`.
pub(super) fn write_stderr(mut text: &[u8]) {
    // SAFETY: no preconditions; an invalid or null handle makes WriteFile
    // fail, which ends the loop.
    let stderr = unsafe { GetStdHandle(STD_ERROR_HANDLE) };
    while !text.is_empty() {
        let len = u32::try_from(text.len()).unwrap_or(u32::MAX);
        let mut written = 0u32;
        // SAFETY: `text` is valid for reads of `len` bytes, `written` for one
        // write; no OVERLAPPED structure (a synchronous write).
        let ok = unsafe {
            WriteFile(
                stderr,
                text.as_ptr(),
                len,
                &mut written,
                std::ptr::null_mut(),
            )
        };
        if ok == 0 || written == 0 {
            return;
        }
        text = &text[written as usize..];
    }
}
