//! Standard output for the admin commands. When the reader goes away (`profile-outbox list | head`)
//! the rest of the output is dropped quietly and the command ends as it would have: Rust ignores
//! SIGPIPE, so `println!` would panic there instead.

use std::io::{self, BufWriter, ErrorKind, Write};

/// Whether the reader took all the output.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Delivery {
    Whole,
    /// The reader went away first (`| head`).
    CutShort,
}

/// Where a command's output goes.
pub struct Out<W: Write> {
    inner: BufWriter<W>,
    /// The reader has gone: nothing more is written.
    gone: bool,
}

impl Out<io::StdoutLock<'static>> {
    pub fn stdout() -> Self {
        Out::new(io::stdout().lock())
    }
}

impl<W: Write> Out<W> {
    pub fn new(writer: W) -> Self {
        Out {
            inner: BufWriter::new(writer),
            gone: false,
        }
    }

    /// Writes one line. Fails only on an error other than a closed pipe.
    pub fn line(&mut self, text: &str) -> io::Result<()> {
        if self.gone {
            return Ok(());
        }
        let written = self
            .inner
            .write_all(text.as_bytes())
            .and_then(|()| self.inner.write_all(b"\n"));
        self.settle(written)
    }

    /// Writes each line.
    pub fn lines(&mut self, lines: &[String]) -> io::Result<()> {
        lines.iter().try_for_each(|line| self.line(line))
    }

    /// Writes `value` as one pretty-printed JSON document.
    pub fn json<T: serde::Serialize>(&mut self, value: &T) -> io::Result<()> {
        let text = serde_json::to_string_pretty(value).map_err(io::Error::other)?;
        self.line(&text)
    }

    /// Flushes what is buffered and says whether the reader took it all.
    pub fn finish(mut self) -> io::Result<Delivery> {
        if !self.gone {
            let flushed = self.inner.flush();
            self.settle(flushed)?;
        }
        Ok(if self.gone {
            Delivery::CutShort
        } else {
            Delivery::Whole
        })
    }

    fn settle(&mut self, result: io::Result<()>) -> io::Result<()> {
        match result {
            Err(e) if e.kind() == ErrorKind::BrokenPipe => {
                self.gone = true;
                Ok(())
            }
            other => other,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A reader that takes `room` bytes, then hangs up.
    struct Closing {
        room: usize,
    }

    impl Write for Closing {
        fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
            if self.room == 0 {
                return Err(io::Error::from(ErrorKind::BrokenPipe));
            }
            let n = buf.len().min(self.room);
            self.room -= n;
            Ok(n)
        }
        fn flush(&mut self) -> io::Result<()> {
            Ok(())
        }
    }

    #[test]
    fn a_reader_that_hangs_up_ends_the_output_quietly() {
        let mut out = Out::new(Closing { room: 10 });
        for i in 0..100_000 {
            assert!(out.line(&format!("line {i}")).is_ok());
        }
        assert!(matches!(out.finish(), Ok(Delivery::CutShort)));
    }

    #[test]
    fn other_write_errors_are_reported() {
        struct Full;
        impl Write for Full {
            fn write(&mut self, _: &[u8]) -> io::Result<usize> {
                Err(io::Error::other("disk full"))
            }
            fn flush(&mut self) -> io::Result<()> {
                Err(io::Error::other("disk full"))
            }
        }
        let mut out = Out::new(Full);
        let _ = out.line("x");
        assert!(out.finish().is_err());
    }
}
