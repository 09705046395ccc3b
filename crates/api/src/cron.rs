//! Cron schedules as upstream reads them with the robfig/cron library's
//! standard parser: five fields (minute, hour, day of month, month, day of
//! week) with `*`, `?`, ranges, lists, steps and names, the `@yearly` ..
//! `@hourly` macros and `@every <duration>`, and an optional `TZ=` or
//! `CRON_TZ=` prefix, with the library's error texts. Validation reports
//! the errors; the CronJob controller computes activations from the
//! parsed fields.

/// A field's bit set has this bit when it was `*` or `?` (and no step
/// above 1): the day-of-month and day-of-week fields then combine with AND
/// instead of OR, as in cron.
pub const STAR: u64 = 1 << 63;

/// What a schedule says.
#[derive(Clone, Debug, PartialEq)]
pub enum Parsed {
    /// One bit per allowed value, plus [`STAR`].
    Fields {
        minute: u64,
        hour: u64,
        dom: u64,
        month: u64,
        dow: u64,
    },
    /// `@every`: a fixed delay in seconds (fractions as given).
    Every(f64),
}

/// A schedule and the time zone its `TZ=`/`CRON_TZ=` prefix names, if any
/// (not checked here: the reader knows its zones).
#[derive(Clone, Debug, PartialEq)]
pub struct Schedule {
    pub zone: Option<String>,
    pub parsed: Parsed,
}

struct Bounds {
    min: u32,
    max: u32,
    names: &'static [&'static str],
    name_base: u32,
}

const MINUTES: Bounds = Bounds {
    min: 0,
    max: 59,
    names: &[],
    name_base: 0,
};
const HOURS: Bounds = Bounds {
    min: 0,
    max: 23,
    names: &[],
    name_base: 0,
};
const DOM: Bounds = Bounds {
    min: 1,
    max: 31,
    names: &[],
    name_base: 0,
};
const MONTHS: Bounds = Bounds {
    min: 1,
    max: 12,
    names: &[
        "jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec",
    ],
    name_base: 1,
};
const DOW: Bounds = Bounds {
    min: 0,
    max: 6,
    names: &["sun", "mon", "tue", "wed", "thu", "fri", "sat"],
    name_base: 0,
};

fn must_parse_int(expr: &str) -> Result<u32, String> {
    let valid = {
        let digits = expr.strip_prefix(['-', '+']).unwrap_or(expr);
        !digits.is_empty() && digits.bytes().all(|b| b.is_ascii_digit())
    };
    if !valid {
        return Err(format!(
            "failed to parse int from {expr}: strconv.Atoi: parsing {expr:?}: invalid syntax"
        ));
    }
    match expr.parse::<i64>() {
        Ok(n) if n < 0 => Err(format!("negative number ({n}) not allowed: {expr}")),
        Ok(n) => Ok(n.min(u32::MAX as i64) as u32),
        Err(_) => Err(format!(
            "failed to parse int from {expr}: strconv.Atoi: parsing {expr:?}: value out of range"
        )),
    }
}

fn int_or_name(expr: &str, bounds: &Bounds) -> Result<u32, String> {
    let lower = expr.to_lowercase();
    if let Some(i) = bounds.names.iter().position(|n| *n == lower) {
        return Ok(i as u32 + bounds.name_base);
    }
    must_parse_int(expr)
}

fn bits(min: u32, max: u32, step: u32) -> u64 {
    (min..=max)
        .step_by(step as usize)
        .fold(0, |acc, i| acc | 1 << i)
}

fn all(bounds: &Bounds) -> u64 {
    bits(bounds.min, bounds.max, 1) | STAR
}

/// The library's getRange.
fn range(expr: &str, bounds: &Bounds) -> Result<u64, String> {
    let range_and_step: Vec<&str> = expr.split('/').collect();
    let low_and_high: Vec<&str> = range_and_step[0].split('-').collect();
    let single = low_and_high.len() == 1;
    let mut extra = 0;
    let (start, mut end) = if low_and_high[0] == "*" || low_and_high[0] == "?" {
        extra = STAR;
        (bounds.min, bounds.max)
    } else {
        let start = int_or_name(low_and_high[0], bounds)?;
        let end = match low_and_high.len() {
            1 => start,
            2 => int_or_name(low_and_high[1], bounds)?,
            _ => return Err(format!("too many hyphens: {expr}")),
        };
        (start, end)
    };
    let step = match range_and_step.len() {
        1 => 1,
        2 => {
            let step = must_parse_int(range_and_step[1])?;
            if single {
                end = bounds.max;
            }
            if step > 1 {
                extra = 0;
            }
            step
        }
        _ => return Err(format!("too many slashes: {expr}")),
    };
    if start < bounds.min {
        return Err(format!(
            "beginning of range ({start}) below minimum ({}): {expr}",
            bounds.min
        ));
    }
    if end > bounds.max {
        return Err(format!(
            "end of range ({end}) above maximum ({}): {expr}",
            bounds.max
        ));
    }
    if start > end {
        return Err(format!(
            "beginning of range ({start}) beyond end of range ({end}): {expr}"
        ));
    }
    if step == 0 {
        return Err(format!("step of range should be a positive number: {expr}"));
    }
    Ok(bits(start, end, step) | extra)
}

fn field(text: &str, bounds: &Bounds) -> Result<u64, String> {
    text.split(',')
        .filter(|r| !r.is_empty())
        .try_fold(0, |acc, r| Ok(acc | range(r, bounds)?))
}

/// Go's `time.ParseDuration`, in seconds; `None` where Go refuses.
fn parse_duration(text: &str) -> Option<f64> {
    let (sign, mut rest) = match text.strip_prefix('-') {
        Some(rest) => (-1.0, rest),
        None => (1.0, text.strip_prefix('+').unwrap_or(text)),
    };
    if rest == "0" {
        return Some(0.0);
    }
    if rest.is_empty() {
        return None;
    }
    let mut total = 0.0;
    while !rest.is_empty() {
        let number_end = rest
            .find(|c: char| !(c.is_ascii_digit() || c == '.'))
            .unwrap_or(rest.len());
        if number_end == 0 || &rest[..number_end] == "." {
            return None;
        }
        let value: f64 = rest[..number_end].parse().ok()?;
        rest = &rest[number_end..];
        // Longer units first where one is a prefix of another (ms, m).
        let (unit, scale) = [
            ("ns", 1e-9),
            ("us", 1e-6),
            ("µs", 1e-6),
            ("μs", 1e-6),
            ("ms", 1e-3),
            ("s", 1.0),
            ("m", 60.0),
            ("h", 3600.0),
        ]
        .into_iter()
        .find(|(unit, _)| rest.starts_with(unit))?;
        total += value * scale;
        rest = &rest[unit.len()..];
    }
    Some(sign * total)
}

/// Parses a schedule; `Err` carries the library's message.
pub fn parse(spec: &str) -> Result<Schedule, String> {
    let mut spec = spec;
    if spec.is_empty() {
        return Err("empty spec string".to_string());
    }
    let mut zone = None;
    if spec.starts_with("TZ=") || spec.starts_with("CRON_TZ=") {
        let end = spec.find(' ').unwrap_or(spec.len());
        zone = Some(spec[spec.find('=').map_or(0, |i| i + 1)..end].to_string());
        spec = spec[end..].trim();
    }
    let parsed = if let Some(descriptor) = spec.strip_prefix('@') {
        let one = |b: u32| 1u64 << b;
        let (minute, hour, dom, month, dow) = match descriptor {
            "yearly" | "annually" => (one(0), one(0), one(1), one(1), all(&DOW)),
            "monthly" => (one(0), one(0), one(1), all(&MONTHS), all(&DOW)),
            "weekly" => (one(0), one(0), all(&DOM), all(&MONTHS), one(0)),
            "daily" | "midnight" => (one(0), one(0), all(&DOM), all(&MONTHS), all(&DOW)),
            "hourly" => (one(0), all(&HOURS), all(&DOM), all(&MONTHS), all(&DOW)),
            d if d.starts_with("every ") => {
                let duration = &d["every ".len()..];
                return match parse_duration(duration) {
                    Some(seconds) => Ok(Schedule {
                        zone,
                        parsed: Parsed::Every(seconds),
                    }),
                    None => Err(format!(
                        "failed to parse duration {spec}: time: invalid duration {duration:?}"
                    )),
                };
            }
            _ => return Err(format!("unrecognized descriptor: {spec}")),
        };
        Parsed::Fields {
            minute,
            hour,
            dom,
            month,
            dow,
        }
    } else {
        let fields: Vec<&str> = spec.split_whitespace().collect();
        if fields.len() != 5 {
            return Err(format!(
                "expected exactly 5 fields, found {}: [{}]",
                fields.len(),
                fields.join(" ")
            ));
        }
        Parsed::Fields {
            minute: field(fields[0], &MINUTES)?,
            hour: field(fields[1], &HOURS)?,
            dom: field(fields[2], &DOM)?,
            month: field(fields[3], &MONTHS)?,
            dow: field(fields[4], &DOW)?,
        }
    };
    Ok(Schedule { zone, parsed })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_what_cron_accepts() {
        for ok in [
            "*/5 * * * *",
            "0 0 1 jan,jul *",
            "15 3 * * mon-fri",
            "@hourly",
            "@every 1h30m",
            "0 0 ? * SUN",
        ] {
            assert_eq!(parse(ok).map(|_| ()), Ok(()), "{ok}");
        }
    }

    #[test]
    fn errors_read_as_cron_writes_them() {
        assert_eq!(
            parse("61 * * * *").unwrap_err(),
            "end of range (61) above maximum (59): 61"
        );
        assert_eq!(
            parse("* * *").unwrap_err(),
            "expected exactly 5 fields, found 3: [* * *]"
        );
        assert_eq!(
            parse("@often").unwrap_err(),
            "unrecognized descriptor: @often"
        );
        assert_eq!(
            parse("x * * * *").unwrap_err(),
            "failed to parse int from x: strconv.Atoi: parsing \"x\": invalid syntax"
        );
        assert_eq!(
            parse("5-1 * * * *").unwrap_err(),
            "beginning of range (5) beyond end of range (1): 5-1"
        );
        assert_eq!(
            parse("0 0 0 * *").unwrap_err(),
            "beginning of range (0) below minimum (1): 0"
        );
    }
}
