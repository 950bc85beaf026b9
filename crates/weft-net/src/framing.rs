//! Length-prefixed frames on a libp2p stream: a 4-byte big-endian length, then the bytes.
//! The reader refuses a frame longer than the protocol's limit before reading it.

use futures::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};

/// Why a frame could not be read or written.
#[derive(Debug, thiserror::Error)]
pub enum FrameError {
    /// The stream failed or ended early.
    #[error("stream error: {0}")]
    Io(#[from] std::io::Error),
    /// The peer announced a frame over the limit.
    #[error("frame of {len} bytes exceeds the limit of {max}")]
    TooLarge {
        /// Announced length.
        len: usize,
        /// The limit.
        max: usize,
    },
}

/// Writes one frame and flushes.
///
/// # Errors
/// [`FrameError`] if the stream fails or `bytes` exceeds `u32::MAX`.
pub async fn write_frame<S: AsyncWrite + Unpin>(
    stream: &mut S,
    bytes: &[u8],
) -> Result<(), FrameError> {
    let len = u32::try_from(bytes.len()).map_err(|_| FrameError::TooLarge {
        len: bytes.len(),
        max: u32::MAX as usize,
    })?;
    stream.write_all(&len.to_be_bytes()).await?;
    stream.write_all(bytes).await?;
    stream.flush().await?;
    Ok(())
}

/// Writes a responder's last frame, then closes the stream (a FIN, not a reset), so the reader
/// gets the whole reply and then a clean end. A stream that is only dropped is reset, and
/// libp2p implementations such as js-libp2p discard what they had not yet read of it.
///
/// # Errors
/// [`FrameError`] if the stream fails or `bytes` exceeds `u32::MAX`.
pub async fn write_last_frame<S: AsyncWrite + Unpin>(
    stream: &mut S,
    bytes: &[u8],
) -> Result<(), FrameError> {
    write_frame(stream, bytes).await?;
    stream.close().await?;
    Ok(())
}

/// Reads one frame of at most `max` bytes.
///
/// # Errors
/// [`FrameError`] if the stream fails, ends, or announces more than `max` bytes.
pub async fn read_frame<S: AsyncRead + Unpin>(
    stream: &mut S,
    max: usize,
) -> Result<Vec<u8>, FrameError> {
    let mut len = [0u8; 4];
    stream.read_exact(&mut len).await?;
    let len = u32::from_be_bytes(len) as usize;
    if len > max {
        return Err(FrameError::TooLarge { len, max });
    }
    let mut buf = vec![0u8; len];
    stream.read_exact(&mut buf).await?;
    Ok(buf)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_and_limit() {
        futures::executor::block_on(async {
            let mut buf = Vec::new();
            write_frame(&mut buf, b"hello").await.unwrap();
            let mut r = futures::io::Cursor::new(buf.clone());
            assert_eq!(read_frame(&mut r, 16).await.unwrap(), b"hello");
            let mut r = futures::io::Cursor::new(buf);
            assert!(matches!(
                read_frame(&mut r, 4).await,
                Err(FrameError::TooLarge { len: 5, max: 4 })
            ));
            let mut r = futures::io::Cursor::new(vec![0, 0, 0, 9, 1]);
            assert!(matches!(
                read_frame(&mut r, 16).await,
                Err(FrameError::Io(_))
            ));
        });
    }
}
