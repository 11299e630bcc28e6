//! Reading the local files a config pulls in (the config file itself, tfstate
//! files and their workspace marker) with the limits that keep a wrong path
//! from hanging ecsched or exhausting memory: only regular files are read
//! (`/dev/zero`, a FIFO or a directory is refused before it is opened), and at
//! most [`MAX_FILE_BYTES`]. Errors are `io::Error`s whose text completes
//! "cannot read …: "; callers name the file. No parsing.

use std::fs;
use std::io::{self, Read};
use std::path::Path;

/// The largest config or tfstate file ecsched reads: far above any real one
/// (the biggest Terraform states are a few MiB), far below what hurts.
pub const MAX_FILE_BYTES: u64 = 64 * 1024 * 1024;

/// The whole file at `path`, if it is a regular file of at most [`MAX_FILE_BYTES`].
///
/// # Errors
/// The file cannot be opened or read (`NotFound` and the like, unchanged), is not a
/// regular file (`InvalidInput`), or is too large (`FileTooLarge`).
pub fn read(path: &Path) -> io::Result<Vec<u8>> {
    // Checked before opening: opening a FIFO blocks until something writes to it.
    check_regular(&fs::metadata(path)?)?;
    let file = fs::File::open(path)?;
    // Checked again on what was opened, in case the path was replaced meanwhile.
    let meta = file.metadata()?;
    check_regular(&meta)?;
    if meta.len() > MAX_FILE_BYTES {
        return Err(too_large());
    }
    // Files such as those in /proc report a size of 0 and then stream: read at most
    // one byte more than the limit to tell "at the limit" from "over it".
    let mut bytes = Vec::with_capacity(usize::try_from(meta.len()).unwrap_or(0));
    file.take(MAX_FILE_BYTES + 1).read_to_end(&mut bytes)?;
    if bytes.len() as u64 > MAX_FILE_BYTES {
        return Err(too_large());
    }
    Ok(bytes)
}

/// [`read`], as UTF-8 text.
///
/// # Errors
/// As [`read`], and `InvalidData` when the file is not UTF-8.
pub fn read_text(path: &Path) -> io::Result<String> {
    String::from_utf8(read(path)?).map_err(|_| {
        io::Error::new(
            io::ErrorKind::InvalidData,
            "stream did not contain valid UTF-8",
        )
    })
}

fn too_large() -> io::Error {
    io::Error::new(
        io::ErrorKind::FileTooLarge,
        format!(
            "it is larger than {} MiB, the limit for a file ecsched reads",
            MAX_FILE_BYTES / (1024 * 1024)
        ),
    )
}

fn check_regular(meta: &fs::Metadata) -> io::Result<()> {
    let kind = meta.file_type();
    if kind.is_file() {
        return Ok(());
    }
    Err(io::Error::new(
        io::ErrorKind::InvalidInput,
        format!("it is {}, not a regular file", describe(&kind)),
    ))
}

/// "a directory", "a character device", …: what a non-regular file is.
fn describe(kind: &fs::FileType) -> &'static str {
    if kind.is_dir() {
        return "a directory";
    }
    #[cfg(unix)]
    {
        use std::os::unix::fs::FileTypeExt;
        if kind.is_char_device() {
            return "a character device";
        }
        if kind.is_block_device() {
            return "a block device";
        }
        if kind.is_fifo() {
            return "a named pipe (FIFO)";
        }
        if kind.is_socket() {
            return "a socket";
        }
    }
    "a special file"
}

#[cfg(test)]
mod tests {
    use super::*;

    fn message(r: io::Result<Vec<u8>>) -> (io::ErrorKind, String) {
        let e = r.expect_err("an error");
        (e.kind(), e.to_string())
    }

    #[test]
    fn regular_files_are_read_whole() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("a.yaml");
        fs::write(&path, "region: x\n").expect("write");
        assert_eq!(read_text(&path).expect("read"), "region: x\n");
        fs::write(&path, [0xff, 0xfe]).expect("write");
        assert_eq!(
            read_text(&path).expect_err("not UTF-8").kind(),
            io::ErrorKind::InvalidData
        );
        let missing = message(read(&dir.path().join("missing.yaml")));
        assert_eq!(missing.0, io::ErrorKind::NotFound);
    }

    #[test]
    fn files_over_the_limit_are_refused_without_reading_them() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("big.tfstate");
        let file = fs::File::create(&path).expect("create");
        // Sparse: no disk space is used.
        file.set_len(MAX_FILE_BYTES + 1).expect("set_len");
        assert_eq!(
            message(read(&path)),
            (
                io::ErrorKind::FileTooLarge,
                "it is larger than 64 MiB, the limit for a file ecsched reads".to_owned()
            )
        );
        file.set_len(MAX_FILE_BYTES).expect("set_len");
        assert_eq!(
            read(&path).expect("at the limit").len() as u64,
            MAX_FILE_BYTES
        );
    }

    #[test]
    fn directories_are_refused() {
        let dir = tempfile::tempdir().expect("tempdir");
        assert_eq!(
            message(read(dir.path())),
            (
                io::ErrorKind::InvalidInput,
                "it is a directory, not a regular file".to_owned()
            )
        );
    }

    #[cfg(target_os = "linux")]
    #[test]
    fn devices_and_fifos_are_refused_before_they_are_opened() {
        assert_eq!(
            message(read(Path::new("/dev/zero"))).1,
            "it is a character device, not a regular file"
        );
        // Through a symbolic link as well.
        let dir = tempfile::tempdir().expect("tempdir");
        let link = dir.path().join("zero.yaml");
        std::os::unix::fs::symlink("/dev/zero", &link).expect("symlink");
        assert_eq!(
            message(read(&link)).1,
            "it is a character device, not a regular file"
        );
        // Opening a FIFO without a writer would block forever: it is never opened.
        let fifo = dir.path().join("pipe.yaml");
        let made = std::process::Command::new("mkfifo")
            .arg(&fifo)
            .status()
            .expect("mkfifo");
        assert!(made.success());
        assert_eq!(
            message(read(&fifo)).1,
            "it is a named pipe (FIFO), not a regular file"
        );
    }
}
