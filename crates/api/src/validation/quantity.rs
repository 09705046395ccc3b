//! Resource quantities (`500m`, `1Gi`, `1e3`): parsing, comparison and the
//! canonical form upstream serializes them in, so `1024Mi` reads back as
//! `1Gi` and `0.5` as `500m`.

use std::cmp::Ordering;

/// The message upstream's decoder gives for a malformed quantity.
pub const QUANTITY_FORMAT_ERROR: &str =
    "quantities must match the regular expression '^([+-]?[0-9.]+)([eEinumkKMGTP]*[-+]?[0-9]*)$'";

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Format {
    DecimalSI,
    BinarySI,
    DecimalExponent,
}

/// `mantissa × 10^scale`, kept exact.
#[derive(Clone, Copy, Debug)]
pub struct Quantity {
    mantissa: i128,
    scale: i32,
    pub format: Format,
}

impl PartialEq for Quantity {
    fn eq(&self, other: &Quantity) -> bool {
        self.cmp_value(other) == Ordering::Equal
    }
}

fn pow10(n: u32) -> Option<i128> {
    10i128.checked_pow(n)
}

impl Quantity {
    pub fn zero() -> Quantity {
        Quantity {
            mantissa: 0,
            scale: 0,
            format: Format::DecimalSI,
        }
    }

    pub fn from_int(value: i64) -> Quantity {
        Quantity {
            mantissa: value as i128,
            scale: 0,
            format: Format::DecimalSI,
        }
        .normalized()
    }

    /// Parses a quantity string or a JSON number.
    pub fn parse(text: &str) -> Result<Quantity, String> {
        let text = text.trim();
        let bad = || QUANTITY_FORMAT_ERROR.to_string();
        if text.is_empty() {
            return Err(bad());
        }
        let (negative, rest) = match text.as_bytes()[0] {
            b'-' => (true, &text[1..]),
            b'+' => (false, &text[1..]),
            _ => (false, text),
        };
        let number_end = rest
            .find(|c: char| !(c.is_ascii_digit() || c == '.'))
            .unwrap_or(rest.len());
        let (number, suffix) = rest.split_at(number_end);
        if number.is_empty() || number == "." || number.matches('.').count() > 1 {
            return Err(bad());
        }
        let (whole, fraction) = number.split_once('.').unwrap_or((number, ""));
        let digits = format!("{whole}{fraction}");
        let digits = digits.trim_start_matches('0');
        // Trailing zeros only widen the mantissa; fold them into the scale.
        let trimmed = digits.trim_end_matches('0');
        let mut scale = -(fraction.len() as i32) + (digits.len() - trimmed.len()) as i32;
        if trimmed.len() > 36 {
            return Err(bad());
        }
        let mut mantissa: i128 = if trimmed.is_empty() {
            0
        } else {
            trimmed.parse().map_err(|_| bad())?
        };
        let format = match suffix {
            "" => Format::DecimalSI,
            "Ki" | "Mi" | "Gi" | "Ti" | "Pi" | "Ei" => {
                let power = match suffix {
                    "Ki" => 1,
                    "Mi" => 2,
                    "Gi" => 3,
                    "Ti" => 4,
                    "Pi" => 5,
                    _ => 6,
                };
                let factor = 1024i128.pow(power);
                mantissa = mantissa.checked_mul(factor).ok_or_else(bad)?;
                Format::BinarySI
            }
            "n" | "u" | "m" | "k" | "M" | "G" | "T" | "P" | "E" => {
                scale += match suffix {
                    "n" => -9,
                    "u" => -6,
                    "m" => -3,
                    "k" => 3,
                    "M" => 6,
                    "G" => 9,
                    "T" => 12,
                    "P" => 15,
                    _ => 18,
                };
                Format::DecimalSI
            }
            other if other.starts_with(['e', 'E']) => {
                let exponent: i32 = other[1..].parse().map_err(|_| bad())?;
                if exponent.abs() > 1000 {
                    return Err(bad());
                }
                scale += exponent;
                Format::DecimalExponent
            }
            _ => return Err(bad()),
        };
        if negative {
            mantissa = -mantissa;
        }
        Ok(Quantity {
            mantissa,
            scale,
            format,
        }
        .normalized())
    }

    fn normalized(mut self) -> Quantity {
        if self.mantissa == 0 {
            self.scale = 0;
            return self;
        }
        while self.mantissa % 10 == 0 {
            self.mantissa /= 10;
            self.scale += 1;
        }
        self
    }

    pub fn is_negative(&self) -> bool {
        self.mantissa < 0
    }

    pub fn is_zero(&self) -> bool {
        self.mantissa == 0
    }

    /// The value times 1000, rounded up, saturating: upstream's MilliValue.
    pub fn milli_value(&self) -> i64 {
        self.scaled_value(-3)
    }

    /// The value rounded up to an integer, saturating: upstream's Value.
    pub fn value(&self) -> i64 {
        self.scaled_value(0)
    }

    fn scaled_value(&self, target: i32) -> i64 {
        let shift = self.scale - target;
        let result = if shift >= 0 {
            pow10(shift as u32).and_then(|p| self.mantissa.checked_mul(p))
        } else {
            pow10((-shift) as u32).map(|p| {
                let q = self.mantissa / p;
                if self.mantissa % p != 0 && self.mantissa > 0 {
                    q + 1
                } else {
                    q
                }
            })
        };
        match result {
            Some(v) => v.clamp(i64::MIN as i128, i64::MAX as i128) as i64,
            None if self.mantissa < 0 => i64::MIN,
            None => i64::MAX,
        }
    }

    /// Compares values regardless of format.
    pub fn cmp_value(&self, other: &Quantity) -> Ordering {
        let sign = |q: &Quantity| q.mantissa.signum();
        match sign(self).cmp(&sign(other)) {
            Ordering::Equal => {}
            unequal => return unequal,
        }
        if self.mantissa == 0 {
            return Ordering::Equal;
        }
        let magnitude = |q: &Quantity| q.mantissa.unsigned_abs().to_string().len() as i32 + q.scale;
        let (ma, mb) = (magnitude(self), magnitude(other));
        let flip = |o: Ordering| if self.mantissa < 0 { o.reverse() } else { o };
        if ma != mb {
            return flip(ma.cmp(&mb));
        }
        let low = self.scale.min(other.scale);
        let widen =
            |q: &Quantity| pow10((q.scale - low) as u32).and_then(|p| q.mantissa.checked_mul(p));
        match (widen(self), widen(other)) {
            (Some(a), Some(b)) => a.cmp(&b),
            _ => Ordering::Equal,
        }
    }

    /// Rounds up to milli precision, as `SetDefaults_ResourceList` does.
    pub fn round_up_to_milli(mut self) -> Quantity {
        if self.scale < -3 {
            let p = pow10((-3 - self.scale) as u32).unwrap_or(i128::MAX);
            let q = self.mantissa / p;
            let rem = self.mantissa % p;
            self.mantissa = if rem > 0 {
                q + 1
            } else if rem < 0 {
                q - 1
            } else {
                q
            };
            self.scale = -3;
        }
        self.normalized()
    }

    fn is_integer(&self) -> bool {
        self.scale >= 0
    }

    /// The canonical text upstream serializes.
    pub fn canonical(&self) -> String {
        let mut format = self.format;
        if format == Format::BinarySI {
            let small = self.cmp_value(&Quantity::from_int(-1024)) == Ordering::Greater
                && self.cmp_value(&Quantity::from_int(1024)) == Ordering::Less;
            if small || !self.is_integer() {
                format = Format::DecimalSI;
            }
        }
        if format == Format::BinarySI {
            if let Some(mut amount) =
                pow10(self.scale as u32).and_then(|p| self.mantissa.checked_mul(p))
            {
                let mut power = 0;
                while amount != 0 && amount % 1024 == 0 && power < 6 {
                    amount /= 1024;
                    power += 1;
                }
                let suffix = ["", "Ki", "Mi", "Gi", "Ti", "Pi", "Ei"][power];
                return format!("{amount}{suffix}");
            }
            format = Format::DecimalSI;
        }
        if self.mantissa == 0 {
            return "0".to_string();
        }
        let mut mantissa = self.mantissa;
        let mut exponent = self.scale;
        let adjust = exponent.rem_euclid(3);
        if adjust != 0 {
            mantissa *= 10i128.pow(adjust as u32);
            exponent -= adjust;
        }
        if format == Format::DecimalExponent {
            return if exponent == 0 {
                mantissa.to_string()
            } else {
                format!("{mantissa}e{exponent}")
            };
        }
        let suffix = match exponent {
            -9 => "n",
            -6 => "u",
            -3 => "m",
            0 => "",
            3 => "k",
            6 => "M",
            9 => "G",
            12 => "T",
            15 => "P",
            18 => "E",
            _ if exponent < -9 => {
                // Below nano upstream rounds up to nano.
                let p = pow10((-9 - exponent) as u32).unwrap_or(i128::MAX);
                let rounded = mantissa / p + i128::from(mantissa % p != 0);
                return Quantity {
                    mantissa: rounded,
                    scale: -9,
                    format: Format::DecimalSI,
                }
                .normalized()
                .canonical();
            }
            _ => return format!("{mantissa}e{exponent}"),
        };
        format!("{mantissa}{suffix}")
    }
}

impl std::fmt::Display for Quantity {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.canonical())
    }
}

/// A quantity as JSON carries it: a string, or a bare number.
pub fn from_json(value: &serde_json::Value) -> Result<Quantity, String> {
    match value {
        serde_json::Value::String(text) => Quantity::parse(text),
        serde_json::Value::Number(n) => Quantity::parse(&n.to_string()),
        _ => Err(QUANTITY_FORMAT_ERROR.to_string()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn canon(text: &str) -> String {
        Quantity::parse(text)
            .unwrap()
            .round_up_to_milli()
            .canonical()
    }

    #[test]
    fn canonical_forms_match_upstream() {
        assert_eq!(canon("1024Mi"), "1Gi");
        assert_eq!(canon("1536Mi"), "1536Mi");
        assert_eq!(canon("0.5"), "500m");
        assert_eq!(canon("1000m"), "1");
        assert_eq!(canon("100m"), "100m");
        assert_eq!(canon("1500000"), "1500k");
        assert_eq!(canon("128974848"), "128974848");
        assert_eq!(canon("129e6"), "129e6");
        assert_eq!(canon("123Mi"), "123Mi");
        assert_eq!(canon("512Ki"), "512Ki");
        assert_eq!(canon("0.5Ki"), "512");
        assert_eq!(canon("0.0001"), "1m");
        assert_eq!(canon("0"), "0");
        assert_eq!(canon("2"), "2");
        assert_eq!(canon("1.5Gi"), "1536Mi");
    }

    #[test]
    fn comparisons_and_errors() {
        let a = Quantity::parse("500m").unwrap();
        let b = Quantity::parse("1").unwrap();
        assert_eq!(a.cmp_value(&b), Ordering::Less);
        assert_eq!(
            Quantity::parse("1Gi")
                .unwrap()
                .cmp_value(&Quantity::parse("1000Mi").unwrap()),
            Ordering::Greater
        );
        assert!(Quantity::parse("-1").unwrap().is_negative());
        assert!(Quantity::parse("abc").is_err());
        assert!(Quantity::parse("1Xi").is_err());
        assert_eq!(Quantity::parse("1.5").unwrap().value(), 2);
        assert_eq!(Quantity::parse("1.5").unwrap().milli_value(), 1500);
    }
}
