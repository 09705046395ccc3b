//! The protobuf wire format, as far as Kubernetes uses it: varints,
//! length-delimited fields and fixed 64-bit doubles (fixed 32-bit values
//! are read so that a stray one is reported by its field, not as garbage).

/// One field's value as it sits on the wire.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Wire<'a> {
    Varint(u64),
    Fixed64(u64),
    Len(&'a [u8]),
    Fixed32(u32),
}

impl Wire<'_> {
    pub fn name(&self) -> &'static str {
        match self {
            Wire::Varint(_) => "varint",
            Wire::Fixed64(_) => "fixed64",
            Wire::Len(_) => "length-delimited",
            Wire::Fixed32(_) => "fixed32",
        }
    }
}

/// The fields of one message, in wire order.
pub struct Fields<'a> {
    buf: &'a [u8],
}

impl<'a> Fields<'a> {
    pub fn new(buf: &'a [u8]) -> Self {
        Fields { buf }
    }

    fn field(&mut self) -> Result<(u32, Wire<'a>), String> {
        let key = varint(&mut self.buf)?;
        let tag = key >> 3;
        if tag == 0 || tag > u64::from(u32::MAX >> 3) {
            return Err(format!("invalid field number {tag}"));
        }
        let tag = tag as u32;
        let wire = match key & 7 {
            0 => Wire::Varint(varint(&mut self.buf)?),
            1 => Wire::Fixed64(u64::from_le_bytes(
                take(&mut self.buf, 8)?.try_into().unwrap_or_default(),
            )),
            2 => {
                let len = varint(&mut self.buf)?;
                let len = usize::try_from(len).map_err(|_| truncated())?;
                Wire::Len(take(&mut self.buf, len)?)
            }
            5 => Wire::Fixed32(u32::from_le_bytes(
                take(&mut self.buf, 4)?.try_into().unwrap_or_default(),
            )),
            3 | 4 => {
                return Err(format!(
                    "field {tag} uses protobuf groups, which Kubernetes never sends"
                ))
            }
            other => return Err(format!("field {tag} has invalid wire type {other}")),
        };
        Ok((tag, wire))
    }
}

impl<'a> Iterator for Fields<'a> {
    type Item = Result<(u32, Wire<'a>), String>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.buf.is_empty() {
            return None;
        }
        let item = self.field();
        if item.is_err() {
            // Nothing after a broken field can be trusted.
            self.buf = &[];
        }
        Some(item)
    }
}

/// Reads a base-128 varint of at most ten bytes.
pub fn varint(buf: &mut &[u8]) -> Result<u64, String> {
    let mut value = 0u64;
    for i in 0..10 {
        let (&byte, rest) = buf.split_first().ok_or_else(truncated)?;
        *buf = rest;
        value |= u64::from(byte & 0x7f) << (7 * i);
        if byte & 0x80 == 0 {
            return Ok(value);
        }
    }
    Err("varint longer than ten bytes".into())
}

fn take<'a>(buf: &mut &'a [u8], len: usize) -> Result<&'a [u8], String> {
    if buf.len() < len {
        return Err(truncated());
    }
    let (head, rest) = buf.split_at(len);
    *buf = rest;
    Ok(head)
}

fn truncated() -> String {
    "truncated message".into()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_each_wire_type() {
        let buf = [
            0x08, 0x96, 0x01, // 1: varint 150
            0x12, 0x02, b'h', b'i', // 2: "hi"
            0x19, 1, 0, 0, 0, 0, 0, 0, 0, // 3: fixed64 1
            0x25, 2, 0, 0, 0, // 4: fixed32 2
        ];
        let fields: Vec<_> = Fields::new(&buf).collect::<Result<_, _>>().unwrap();
        assert_eq!(
            fields,
            vec![
                (1, Wire::Varint(150)),
                (2, Wire::Len(b"hi")),
                (3, Wire::Fixed64(1)),
                (4, Wire::Fixed32(2)),
            ]
        );
    }

    #[test]
    fn rejects_broken_input() {
        for bad in [
            &[0x08][..],         // varint missing
            &[0x12, 0x05, b'a'], // length beyond the end
            &[0x00, 0x01],       // field number 0
            &[0x0b],             // group
            &[0x0e],             // wire type 6
            &[
                0x08, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01,
            ],
            &[
                0x12, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01,
            ],
        ] {
            let result: Result<Vec<_>, _> = Fields::new(bad).collect();
            assert!(result.is_err(), "{bad:?}");
        }
    }
}
