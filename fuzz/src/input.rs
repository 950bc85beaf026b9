//! A byte reader over fuzz input with a fixed, documented layout (so that seed inputs can be
//! written by hand in [`crate::seeds`]). Reads past the end yield zeros.

/// Reads integers and slices from the front of the fuzz input.
#[derive(Debug)]
pub struct Input<'a> {
    data: &'a [u8],
}

impl<'a> Input<'a> {
    /// A reader over `data`.
    pub fn new(data: &'a [u8]) -> Self {
        Input { data }
    }

    /// Whether everything has been read.
    pub fn is_empty(&self) -> bool {
        self.data.is_empty()
    }

    /// The next byte, or 0.
    pub fn byte(&mut self) -> u8 {
        match self.data.split_first() {
            Some((b, rest)) => {
                self.data = rest;
                *b
            }
            None => 0,
        }
    }

    /// A yes-or-no choice: the next byte is even.
    pub fn flag(&mut self) -> bool {
        self.byte() & 1 == 0
    }

    /// A big-endian `u16`.
    pub fn u16(&mut self) -> u16 {
        u16::from_be_bytes([self.byte(), self.byte()])
    }

    /// A big-endian `u32`.
    pub fn u32(&mut self) -> u32 {
        u32::from_be_bytes(self.array())
    }

    /// A big-endian `u64`.
    pub fn u64(&mut self) -> u64 {
        u64::from_be_bytes(self.array())
    }

    /// `N` bytes (zero-padded at the end of the input).
    pub fn array<const N: usize>(&mut self) -> [u8; N] {
        let mut out = [0u8; N];
        for b in &mut out {
            *b = self.byte();
        }
        out
    }

    /// Up to `len` bytes (fewer at the end of the input).
    pub fn bytes(&mut self, len: usize) -> &'a [u8] {
        let (head, rest) = self.data.split_at(len.min(self.data.len()));
        self.data = rest;
        head
    }

    /// A slice prefixed by its length as a big-endian `u16`.
    pub fn frame(&mut self) -> &'a [u8] {
        let len = usize::from(self.u16());
        self.bytes(len)
    }

    /// Everything not read yet.
    pub fn rest(&mut self) -> &'a [u8] {
        std::mem::take(&mut self.data)
    }

    /// A short string (length byte, then bytes, lossily UTF-8).
    pub fn string(&mut self, max: usize) -> String {
        let len = usize::from(self.byte()).min(max);
        String::from_utf8_lossy(self.bytes(len)).into_owned()
    }
}

/// Appends `bytes` to `out` with a big-endian `u16` length prefix, the layout of
/// [`Input::frame`].
///
/// # Panics
/// If `bytes` is longer than `u16::MAX` (seed construction only).
pub fn push_frame(out: &mut Vec<u8>, bytes: &[u8]) {
    let len = u16::try_from(bytes.len()).expect("seed frame fits a u16 length");
    out.extend_from_slice(&len.to_be_bytes());
    out.extend_from_slice(bytes);
}
