//! Go's JSON scanner, for the words of its syntax errors: upstream
//! reports a body that is not JSON as `invalid character 'n' looking for
//! beginning of object key string` or `unexpected end of JSON input`.

/// Go's `encoding/json` message for the first syntax error of `body`
/// (`invalid character 'n' looking for beginning of object key string`,
/// `unexpected end of JSON input`); `None` for well-formed JSON.
pub fn syntax_error(body: &[u8]) -> Option<String> {
    let mut scanner = Scanner {
        stack: Vec::new(),
        state: State::BeginValue,
        pending: 0,
    };
    for &c in body {
        if let Err(message) = scanner.step(c) {
            return Some(message);
        }
    }
    // Go finishes a number at the end with a space.
    if let Err(message) = scanner.step(b' ') {
        return Some(message);
    }
    (scanner.state != State::EndTop).then(|| "unexpected end of JSON input".to_string())
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum State {
    BeginValue,
    BeginStringOrEmpty,
    BeginString,
    BeginValueOrEmpty,
    EndValue,
    EndTop,
    InString,
    InStringEsc,
    InStringEscU,
    Neg,
    One,
    Zero,
    Dot,
    Dot0,
    E,
    ESign,
    E0,
    /// The rest of `true`, `false` or `null`.
    Literal(&'static [u8], &'static str),
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Frame {
    ObjectKey,
    ObjectValue,
    Array,
}

/// Go's JSON scanner, for its error messages.
struct Scanner {
    stack: Vec<Frame>,
    state: State,
    /// Hex digits still expected in a `\u` escape.
    pending: u8,
}

impl Scanner {
    fn step(&mut self, c: u8) -> Result<(), String> {
        let space = matches!(c, b' ' | b'\t' | b'\r' | b'\n');
        let error = |context: &str| Err(format!("invalid character {} {context}", quote_char(c)));
        match self.state {
            State::BeginValueOrEmpty if c == b']' => self.pop(),
            State::BeginValue | State::BeginValueOrEmpty => {
                if space {
                    return Ok(());
                }
                self.state = match c {
                    b'{' => {
                        self.stack.push(Frame::ObjectKey);
                        State::BeginStringOrEmpty
                    }
                    b'[' => {
                        self.stack.push(Frame::Array);
                        State::BeginValueOrEmpty
                    }
                    b'"' => State::InString,
                    b'-' => State::Neg,
                    b'0' => State::Zero,
                    b'1'..=b'9' => State::One,
                    b't' => State::Literal(b"rue", "true"),
                    b'f' => State::Literal(b"alse", "false"),
                    b'n' => State::Literal(b"ull", "null"),
                    _ => return error("looking for beginning of value"),
                };
                Ok(())
            }
            State::BeginStringOrEmpty if c == b'}' => {
                self.stack.pop();
                self.end_value()
            }
            State::BeginStringOrEmpty | State::BeginString => {
                if space {
                    return Ok(());
                }
                if c != b'"' {
                    return error("looking for beginning of object key string");
                }
                self.state = State::InString;
                Ok(())
            }
            State::EndValue => {
                if space {
                    return Ok(());
                }
                match (self.stack.last().copied(), c) {
                    (Some(Frame::ObjectKey), b':') => {
                        *self.stack.last_mut().expect("a frame") = Frame::ObjectValue;
                        self.state = State::BeginValue;
                        Ok(())
                    }
                    (Some(Frame::ObjectKey), _) => error("after object key"),
                    (Some(Frame::ObjectValue), b',') => {
                        *self.stack.last_mut().expect("a frame") = Frame::ObjectKey;
                        self.state = State::BeginString;
                        Ok(())
                    }
                    (Some(Frame::ObjectValue), b'}') => self.pop(),
                    (Some(Frame::ObjectValue), _) => error("after object key:value pair"),
                    (Some(Frame::Array), b',') => {
                        self.state = State::BeginValue;
                        Ok(())
                    }
                    (Some(Frame::Array), b']') => self.pop(),
                    (Some(Frame::Array), _) => error("after array element"),
                    (None, _) => {
                        self.state = State::EndTop;
                        self.step(c)
                    }
                }
            }
            State::EndTop if space => Ok(()),
            State::EndTop => error("after top-level value"),
            State::InString => {
                match c {
                    b'"' => return self.end_value(),
                    b'\\' => self.state = State::InStringEsc,
                    c if c < 0x20 => return error("in string literal"),
                    _ => {}
                }
                Ok(())
            }
            State::InStringEsc => {
                self.state = match c {
                    b'b' | b'f' | b'n' | b'r' | b't' | b'\\' | b'/' | b'"' => State::InString,
                    b'u' => {
                        self.pending = 4;
                        State::InStringEscU
                    }
                    _ => return error("in string escape code"),
                };
                Ok(())
            }
            State::InStringEscU => {
                if !c.is_ascii_hexdigit() {
                    return error("in \\u hexadecimal character escape");
                }
                self.pending -= 1;
                if self.pending == 0 {
                    self.state = State::InString;
                }
                Ok(())
            }
            State::Neg => {
                self.state = match c {
                    b'0' => State::Zero,
                    b'1'..=b'9' => State::One,
                    _ => return error("in numeric literal"),
                };
                Ok(())
            }
            State::One if c.is_ascii_digit() => Ok(()),
            State::One | State::Zero => match c {
                b'.' => {
                    self.state = State::Dot;
                    Ok(())
                }
                b'e' | b'E' => {
                    self.state = State::E;
                    Ok(())
                }
                _ => self.end_value_then(c),
            },
            State::Dot if c.is_ascii_digit() => {
                self.state = State::Dot0;
                Ok(())
            }
            State::Dot => error("after decimal point in numeric literal"),
            State::Dot0 if c.is_ascii_digit() => Ok(()),
            State::Dot0 if c == b'e' || c == b'E' => {
                self.state = State::E;
                Ok(())
            }
            State::Dot0 => self.end_value_then(c),
            State::E if c == b'+' || c == b'-' => {
                self.state = State::ESign;
                Ok(())
            }
            State::E | State::ESign if c.is_ascii_digit() => {
                self.state = State::E0;
                Ok(())
            }
            State::E | State::ESign => error("in exponent of numeric literal"),
            State::E0 if c.is_ascii_digit() => Ok(()),
            State::E0 => self.end_value_then(c),
            State::Literal(rest, word) => {
                if c != rest[0] {
                    return error(&format!(
                        "in literal {word} (expecting {})",
                        quote_char(rest[0])
                    ));
                }
                if rest.len() == 1 {
                    return self.end_value();
                }
                self.state = State::Literal(&rest[1..], word);
                Ok(())
            }
        }
    }

    fn pop(&mut self) -> Result<(), String> {
        self.stack.pop();
        self.end_value()
    }

    fn end_value(&mut self) -> Result<(), String> {
        self.state = if self.stack.is_empty() {
            State::EndTop
        } else {
            State::EndValue
        };
        Ok(())
    }

    /// A number ended at `c`, which belongs to what follows.
    fn end_value_then(&mut self, c: u8) -> Result<(), String> {
        self.state = State::EndValue;
        self.step(c)
    }
}

/// Go's `quoteChar`: `'n'`, `'\''`, `'"'`, `'\x01'`.
fn quote_char(c: u8) -> String {
    match c {
        b'\'' => "'\\''".to_string(),
        b'"' => "'\"'".to_string(),
        b'\x07' => "'\\a'".to_string(),
        b'\x08' => "'\\b'".to_string(),
        b'\x0c' => "'\\f'".to_string(),
        b'\n' => "'\\n'".to_string(),
        b'\r' => "'\\r'".to_string(),
        b'\t' => "'\\t'".to_string(),
        b'\x0b' => "'\\v'".to_string(),
        b'\\' => "'\\\\'".to_string(),
        c if c < 0x20 || c == 0x7f => format!("'\\x{c:02x}'"),
        c if c < 0x80 => format!("'{}'", c as char),
        c if c < 0xa0 => format!("'\\u{:04x}'", c),
        c => format!("'{}'", c as char),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn syntax_errors_are_worded_as_go() {
        assert_eq!(
            syntax_error(br#"{"a": [1, 2.5e3, true, null, "x\u00e9"]}"#),
            None
        );
        assert_eq!(
            syntax_error(b"{not json").unwrap(),
            "invalid character 'n' looking for beginning of object key string"
        );
        assert_eq!(
            syntax_error(b"{\"a\": 1").unwrap(),
            "unexpected end of JSON input"
        );
        assert_eq!(syntax_error(b"").unwrap(), "unexpected end of JSON input");
        assert_eq!(
            syntax_error(b"{\"a\" 1}").unwrap(),
            "invalid character '1' after object key"
        );
        assert_eq!(
            syntax_error(b"{\"a\": 1 \"b\"}").unwrap(),
            "invalid character '\"' after object key:value pair"
        );
        assert_eq!(
            syntax_error(b"[1 2]").unwrap(),
            "invalid character '2' after array element"
        );
        assert_eq!(
            syntax_error(b"{} x").unwrap(),
            "invalid character 'x' after top-level value"
        );
        assert_eq!(
            syntax_error(b"{\"a\": tru}").unwrap(),
            "invalid character '}' in literal true (expecting 'e')"
        );
        assert_eq!(
            syntax_error(b"{\"a\": 1.}").unwrap(),
            "invalid character '}' after decimal point in numeric literal"
        );
        assert_eq!(
            syntax_error(b"{\"a\": -x}").unwrap(),
            "invalid character 'x' in numeric literal"
        );
    }
}
