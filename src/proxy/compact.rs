//! A small binary layout for sealed payloads that are opened on a hot path: fields in a fixed
//! order, integers as unsigned LEB128 varints in their shortest form (a longer spelling, or one
//! past 64 bits, is malformed: a value has one encoding), byte strings and text prefixed with
//! their length. No
//! field names and no escaping, so a payload is shorter than its JSON and read without a
//! parser; binary parts (a JWT's signature) are carried as bytes rather than as base64 inside
//! the seal's own base64. Only authenticated plaintext is ever read with it, and every read is
//! bounds-checked: a short or inconsistent payload is [`SealError::Malformed`], never a panic.

use super::seal::SealError;

/// Appends fields to a payload.
pub(crate) struct Writer<'a>(pub(crate) &'a mut Vec<u8>);

impl Writer<'_> {
    pub(crate) fn u64(&mut self, mut n: u64) {
        loop {
            let byte = (n & 0x7f) as u8;
            n >>= 7;
            if n == 0 {
                self.0.push(byte);
                return;
            }
            self.0.push(byte | 0x80);
        }
    }

    pub(crate) fn bytes(&mut self, bytes: &[u8]) {
        self.u64(bytes.len() as u64);
        self.0.extend_from_slice(bytes);
    }

    pub(crate) fn str(&mut self, s: &str) {
        self.bytes(s.as_bytes());
    }

    pub(crate) fn flag(&mut self, on: bool) {
        self.0.push(u8::from(on));
    }

    pub(crate) fn opt_str(&mut self, s: Option<&str>) {
        self.flag(s.is_some());
        if let Some(s) = s {
            self.str(s);
        }
    }

    pub(crate) fn opt_u64(&mut self, n: Option<u64>) {
        self.flag(n.is_some());
        if let Some(n) = n {
            self.u64(n);
        }
    }

    pub(crate) fn strs(&mut self, items: &[String]) {
        self.u64(items.len() as u64);
        for item in items {
            self.str(item);
        }
    }
}

/// Reads the fields a [`Writer`] wrote, in the same order.
pub(crate) struct Reader<'a>(pub(crate) &'a [u8]);

impl<'a> Reader<'a> {
    pub(crate) fn u64(&mut self) -> Result<u64, SealError> {
        let mut n: u64 = 0;
        for shift in (0..64).step_by(7) {
            let (&byte, rest) = self.0.split_first().ok_or(SealError::Malformed)?;
            self.0 = rest;
            // The tenth byte holds bit 63 alone and ends the varint; more would be lost bits.
            if shift == 63 && byte > 1 {
                return Err(SealError::Malformed);
            }
            n |= u64::from(byte & 0x7f) << shift;
            if byte & 0x80 == 0 {
                // A last byte of 0 after others is a longer spelling of a shorter varint.
                if byte == 0 && shift > 0 {
                    return Err(SealError::Malformed);
                }
                return Ok(n);
            }
        }
        Err(SealError::Malformed)
    }

    pub(crate) fn bytes(&mut self) -> Result<&'a [u8], SealError> {
        let len = usize::try_from(self.u64()?).map_err(|_| SealError::Malformed)?;
        if len > self.0.len() {
            return Err(SealError::Malformed);
        }
        let (bytes, rest) = self.0.split_at(len);
        self.0 = rest;
        Ok(bytes)
    }

    pub(crate) fn str(&mut self) -> Result<&'a str, SealError> {
        std::str::from_utf8(self.bytes()?).map_err(|_| SealError::Malformed)
    }

    pub(crate) fn string(&mut self) -> Result<String, SealError> {
        self.str().map(str::to_owned)
    }

    pub(crate) fn flag(&mut self) -> Result<bool, SealError> {
        let (&byte, rest) = self.0.split_first().ok_or(SealError::Malformed)?;
        self.0 = rest;
        match byte {
            0 => Ok(false),
            1 => Ok(true),
            _ => Err(SealError::Malformed),
        }
    }

    pub(crate) fn opt_string(&mut self) -> Result<Option<String>, SealError> {
        if self.flag()? {
            self.string().map(Some)
        } else {
            Ok(None)
        }
    }

    pub(crate) fn opt_u64(&mut self) -> Result<Option<u64>, SealError> {
        if self.flag()? {
            self.u64().map(Some)
        } else {
            Ok(None)
        }
    }

    pub(crate) fn strings(&mut self) -> Result<Vec<String>, SealError> {
        let count = usize::try_from(self.u64()?).map_err(|_| SealError::Malformed)?;
        // Each item takes at least its length byte: a count beyond that is a lie.
        if count > self.0.len() {
            return Err(SealError::Malformed);
        }
        (0..count).map(|_| self.string()).collect()
    }

    /// Everything was read: trailing bytes mean the layout is not the one expected.
    pub(crate) fn end(&self) -> Result<(), SealError> {
        if self.0.is_empty() {
            Ok(())
        } else {
            Err(SealError::Malformed)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_field_reads_back_as_written() {
        let mut out = Vec::new();
        let mut w = Writer(&mut out);
        for n in [0, 1, 127, 128, 300, u64::from(u32::MAX), u64::MAX] {
            w.u64(n);
        }
        w.str("héllo");
        w.opt_str(None);
        w.opt_str(Some(""));
        w.opt_u64(Some(7));
        w.strs(&["a".into(), "bc".into()]);
        w.bytes(&[0, 255]);
        let mut r = Reader(&out);
        for n in [0, 1, 127, 128, 300, u64::from(u32::MAX), u64::MAX] {
            assert_eq!(r.u64(), Ok(n));
        }
        assert_eq!(r.str(), Ok("héllo"));
        assert_eq!(r.opt_string(), Ok(None));
        assert_eq!(r.opt_string(), Ok(Some(String::new())));
        assert_eq!(r.opt_u64(), Ok(Some(7)));
        assert_eq!(r.strings(), Ok(vec!["a".to_owned(), "bc".to_owned()]));
        assert_eq!(r.bytes(), Ok(&[0u8, 255][..]));
        assert_eq!(r.end(), Ok(()));
    }

    #[test]
    fn short_or_inconsistent_input_is_malformed_not_a_panic() {
        for input in [
            &[][..],
            &[0x80],
            &[0xff; 11],
            &[5, b'a'],
            &[2, 0xff, 0xfe],
            &[0xff, 0xff, 0xff, 0xff, 0x0f],
        ] {
            let mut r = Reader(input);
            assert!(r.str().is_err(), "{input:?}");
        }
        assert_eq!(Reader(&[2]).flag(), Err(SealError::Malformed));
        assert_eq!(Reader(&[200, 1]).strings(), Err(SealError::Malformed));
        assert_eq!(Reader(&[0]).end(), Err(SealError::Malformed));
    }

    #[test]
    fn overlong_and_overflowing_varints_are_malformed() {
        let read = |bytes: &[u8]| Reader(bytes).u64();
        let mut max = Vec::new();
        Writer(&mut max).u64(u64::MAX);
        assert_eq!((max.len(), read(&max)), (10, Ok(u64::MAX)));
        // Bits past 64 in the tenth byte, or an eleventh byte.
        let mut past = max.clone();
        past[9] = 0x7f;
        assert_eq!(read(&past), Err(SealError::Malformed));
        past[9] = 0x81;
        past.push(0x01);
        assert_eq!(read(&past), Err(SealError::Malformed));
        // 0 and 1 spelled with a needless trailing byte.
        assert_eq!(read(&[0x80, 0x00]), Err(SealError::Malformed));
        assert_eq!(read(&[0x81, 0x80, 0x00]), Err(SealError::Malformed));
        assert_eq!((read(&[0x00]), read(&[0x81, 0x01])), (Ok(0), Ok(129)));
    }
}
