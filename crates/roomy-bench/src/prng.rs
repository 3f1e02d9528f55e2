//! Pseudo-random upload data that is never held whole in memory.
//!
//! The bytes are a pure function of (seed, position): word `i` of the stream
//! is SplitMix64's output for `seed + i·γ`. So any chunk can be made on its
//! own, in any size, and two chunkings of one stream give the same bytes;
//! and making it costs a few multiplies per 8 bytes, far below what the disk
//! or the hashes cost, so it does not skew a throughput measurement.

/// SplitMix64's increment (the golden ratio in 64-bit fixed point).
const GAMMA: u64 = 0x9E37_79B9_7F4A_7C15;

/// SplitMix64's output function.
fn mix(mut z: u64) -> u64 {
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// An endless, seekable stream of pseudo-random bytes.
#[derive(Debug, Clone, Copy)]
pub struct Stream {
    seed: u64,
}

impl Stream {
    /// The stream for `seed`; equal seeds give equal bytes.
    pub fn new(seed: u64) -> Stream {
        Stream { seed }
    }

    fn word(&self, index: u64) -> [u8; 8] {
        mix(self.seed.wrapping_add(index.wrapping_mul(GAMMA))).to_le_bytes()
    }

    /// Fills `buf` with the stream's bytes starting at byte `offset`.
    pub fn fill_at(&self, offset: u64, buf: &mut [u8]) {
        let mut pos = offset;
        let mut out = buf;
        // A start inside a word: its tail first, so the rest is word-aligned.
        let skew = (pos % 8) as usize;
        if skew != 0 && !out.is_empty() {
            let word = self.word(pos / 8);
            let n = (8 - skew).min(out.len());
            out[..n].copy_from_slice(&word[skew..skew + n]);
            out = &mut out[n..];
            pos += n as u64;
        }
        let mut index = pos / 8;
        let mut words = out.chunks_exact_mut(8);
        for w in &mut words {
            w.copy_from_slice(&self.word(index));
            index += 1;
        }
        let rest = words.into_remainder();
        if !rest.is_empty() {
            let n = rest.len();
            rest.copy_from_slice(&self.word(index)[..n]);
        }
    }

    /// `len` bytes from `offset`, in a new buffer.
    pub fn chunk(&self, offset: u64, len: usize) -> Vec<u8> {
        let mut buf = vec![0; len];
        self.fill_at(offset, &mut buf);
        buf
    }
}

/// The (offset, length) of each chunk of a `total`-byte upload in
/// `chunk`-byte pieces; the last one may be short.
pub fn chunks(total: u64, chunk: u64) -> impl Iterator<Item = (u64, usize)> {
    let chunk = chunk.max(1);
    (0..total.div_ceil(chunk)).map(move |i| {
        let offset = i * chunk;
        (offset, (total - offset).min(chunk) as usize)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn chunkings_of_one_stream_agree() {
        let s = Stream::new(42);
        let whole = s.chunk(0, 1000);
        for size in [1u64, 3, 7, 8, 9, 64, 333, 1000, 4096] {
            let mut joined = Vec::new();
            for (offset, len) in chunks(1000, size) {
                joined.extend(s.chunk(offset, len));
            }
            assert_eq!(joined, whole, "chunk size {size}");
        }
    }

    #[test]
    fn unaligned_short_reads_match_the_stream() {
        let s = Stream::new(7);
        let whole = s.chunk(0, 64);
        for start in 0..20u64 {
            for len in 0..12usize {
                let got = s.chunk(start, len);
                assert_eq!(got[..], whole[start as usize..start as usize + len]);
            }
        }
    }

    #[test]
    fn seeds_differ_and_bytes_look_random() {
        let a = Stream::new(1).chunk(0, 1 << 16);
        let b = Stream::new(2).chunk(0, 1 << 16);
        assert_ne!(a, b);
        // Every byte value turns up about 256 times in 64 KiB; a broken mixer
        // (all zeros, a short cycle) would not spread like this.
        let mut counts = [0u32; 256];
        for byte in &a {
            counts[usize::from(*byte)] += 1;
        }
        assert!(counts.iter().all(|c| (150..=370).contains(c)), "{counts:?}");
    }

    #[test]
    fn chunks_cover_the_total_once() {
        let plan: Vec<_> = chunks(20, 8).collect();
        assert_eq!(plan, vec![(0, 8), (8, 8), (16, 4)]);
        assert_eq!(chunks(0, 8).count(), 0);
        assert_eq!(chunks(16, 8).collect::<Vec<_>>(), vec![(0, 8), (8, 8)]);
    }
}
