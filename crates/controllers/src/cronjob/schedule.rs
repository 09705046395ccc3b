//! When a cron schedule fires next: the robfig/cron library's algorithm,
//! including how it walks over daylight-saving changes, over the fields
//! [`capstan_api::cron`] parses, in a time zone.

use capstan_api::cron::{self, STAR};
use jiff::civil::DateTime;
use jiff::tz::TimeZone;
use jiff::{SignedDuration, Timestamp, ToSpan, Zoned};

#[derive(Clone, Debug)]
pub enum Schedule {
    Spec(Spec),
    /// `@every`: a fixed delay, whole seconds.
    Every(SignedDuration),
}

#[derive(Clone, Debug)]
pub struct Spec {
    minute: u64,
    hour: u64,
    dom: u64,
    month: u64,
    dow: u64,
    zone: TimeZone,
}

impl Schedule {
    /// Parses a schedule read in `zone`; a `TZ=` or `CRON_TZ=` prefix in
    /// the text overrides it, as in the library.
    pub fn parse(text: &str, zone: TimeZone) -> Result<Schedule, String> {
        let schedule = cron::parse(text)?;
        let zone = match schedule.zone {
            Some(name) => {
                TimeZone::get(&name).map_err(|_| format!("provided bad location {name}"))?
            }
            None => zone,
        };
        Ok(match schedule.parsed {
            cron::Parsed::Fields {
                minute,
                hour,
                dom,
                month,
                dow,
            } => Schedule::Spec(Spec {
                minute,
                hour,
                dom,
                month,
                dow,
                zone,
            }),
            // The library's Every: whole seconds, at least one.
            cron::Parsed::Every(seconds) => {
                Schedule::Every(SignedDuration::from_secs((seconds as i64).max(1)))
            }
        })
    }

    /// The first activation strictly after `after`; `None` if there is
    /// none within five years (such as the 30th of February).
    pub fn next(&self, after: Timestamp) -> Option<Timestamp> {
        match self {
            Schedule::Every(delay) => {
                let whole = Timestamp::from_second(after.as_second()).ok()?;
                whole.checked_add(*delay).ok()
            }
            Schedule::Spec(spec) => spec.next(after).map(|z| z.timestamp()),
        }
    }
}

impl Spec {
    fn day_matches(&self, t: &Zoned) -> bool {
        let dom = self.dom & (1 << t.day()) != 0;
        let dow = self.dow & (1 << t.weekday().to_sunday_zero_offset()) != 0;
        if self.dom & STAR != 0 || self.dow & STAR != 0 {
            dom && dow
        } else {
            dom || dow
        }
    }

    fn at(&self, date: DateTime) -> Option<Zoned> {
        date.to_zoned(self.zone.clone()).ok()
    }

    /// The library's SpecSchedule.Next, minute by minute where needed.
    fn next(&self, after: Timestamp) -> Option<Zoned> {
        // The upcoming whole second.
        let start = Timestamp::from_second(after.as_second().checked_add(1)?).ok()?;
        let mut t = start.to_zoned(self.zone.clone());
        let year_limit = t.year() + 5;
        let mut added = false;
        'wrap: loop {
            if t.year() > year_limit {
                return None;
            }
            while self.month & (1 << t.month()) == 0 {
                if !added {
                    added = true;
                    t = self.at(t
                        .date()
                        .first_of_month()
                        .to_datetime(jiff::civil::Time::midnight()))?;
                }
                t = t.checked_add(1.month()).ok()?;
                if t.month() == 1 {
                    continue 'wrap;
                }
            }
            while !self.day_matches(&t) {
                if !added {
                    added = true;
                    t = self.at(t.date().to_datetime(jiff::civil::Time::midnight()))?;
                }
                t = t.checked_add(1.day()).ok()?;
                // A day that began at 23:00 or 01:00 because of a DST change.
                let hour = i64::from(t.hour());
                if hour != 0 {
                    let shift = if hour > 12 { 24 - hour } else { -hour };
                    t = t.checked_add(SignedDuration::from_hours(shift)).ok()?;
                }
                if t.day() == 1 {
                    continue 'wrap;
                }
            }
            while self.hour & (1 << t.hour()) == 0 {
                if !added {
                    added = true;
                    let hour = jiff::civil::time(t.hour(), 0, 0, 0);
                    t = self.at(t.date().to_datetime(hour))?;
                }
                t = t.checked_add(SignedDuration::from_hours(1)).ok()?;
                if t.hour() == 0 {
                    continue 'wrap;
                }
            }
            while self.minute & (1 << t.minute()) == 0 {
                if !added {
                    added = true;
                    t = truncate(&t, 60)?;
                }
                t = t.checked_add(SignedDuration::from_mins(1)).ok()?;
                if t.minute() == 0 {
                    continue 'wrap;
                }
            }
            // Standard schedules fire at second 0.
            while t.second() != 0 {
                if !added {
                    added = true;
                    t = truncate(&t, 1)?;
                }
                t = t.checked_add(SignedDuration::from_secs(1)).ok()?;
                if t.second() == 0 {
                    continue 'wrap;
                }
            }
            return Some(t);
        }
    }
}

/// Go's Time.Truncate: down to a multiple of `seconds` of absolute time.
fn truncate(t: &Zoned, seconds: i64) -> Option<Zoned> {
    let s = t.timestamp().as_second();
    let down = Timestamp::from_second(s - s.rem_euclid(seconds)).ok()?;
    Some(down.to_zoned(t.time_zone().clone()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ts(text: &str) -> Timestamp {
        text.parse().unwrap()
    }

    fn next_in(schedule: &str, zone: &str, after: &str) -> String {
        let zone = TimeZone::get(zone).unwrap();
        let schedule = Schedule::parse(schedule, zone.clone()).unwrap();
        let next = schedule.next(ts(after)).unwrap();
        next.to_zoned(zone)
            .strftime("%Y-%m-%dT%H:%M:%S%:z")
            .to_string()
    }

    #[test]
    fn fields_ranges_lists_steps_and_names() {
        assert_eq!(
            next_in("* * * * *", "UTC", "2024-03-01T10:00:30Z"),
            "2024-03-01T10:01:00+00:00"
        );
        assert_eq!(
            next_in("* * * * *", "UTC", "2024-03-01T10:00:00Z"),
            "2024-03-01T10:01:00+00:00"
        );
        assert_eq!(
            next_in("*/15 * * * *", "UTC", "2024-03-01T10:16:00Z"),
            "2024-03-01T10:30:00+00:00"
        );
        assert_eq!(
            next_in("5,10-12 * * * *", "UTC", "2024-03-01T10:10:00Z"),
            "2024-03-01T10:11:00+00:00"
        );
        assert_eq!(
            next_in("0 9 * * MON-FRI", "UTC", "2024-03-01T10:00:00Z"),
            "2024-03-04T09:00:00+00:00"
        );
        assert_eq!(
            next_in("30 6 1 JAN,jul *", "UTC", "2024-03-01T10:00:00Z"),
            "2024-07-01T06:30:00+00:00"
        );
        assert_eq!(
            next_in("0 0 13 * 5", "UTC", "2024-03-01T10:00:00Z"),
            "2024-03-08T00:00:00+00:00"
        );
        assert_eq!(
            next_in("0 0 29 2 *", "UTC", "2024-03-01T10:00:00Z"),
            "2028-02-29T00:00:00+00:00"
        );
        assert_eq!(
            next_in("10-40/15 * * * *", "UTC", "2024-03-01T10:26:00Z"),
            "2024-03-01T10:40:00+00:00"
        );
    }

    #[test]
    fn macros_and_every() {
        let after = "2024-03-05T10:20:30Z";
        assert_eq!(
            next_in("@hourly", "UTC", after),
            "2024-03-05T11:00:00+00:00"
        );
        assert_eq!(next_in("@daily", "UTC", after), "2024-03-06T00:00:00+00:00");
        assert_eq!(
            next_in("@midnight", "UTC", after),
            "2024-03-06T00:00:00+00:00"
        );
        assert_eq!(
            next_in("@weekly", "UTC", after),
            "2024-03-10T00:00:00+00:00"
        );
        assert_eq!(
            next_in("@monthly", "UTC", after),
            "2024-04-01T00:00:00+00:00"
        );
        assert_eq!(
            next_in("@yearly", "UTC", after),
            "2025-01-01T00:00:00+00:00"
        );
        assert_eq!(
            next_in("@annually", "UTC", after),
            "2025-01-01T00:00:00+00:00"
        );
        assert_eq!(
            next_in("@every 90s", "UTC", after),
            "2024-03-05T10:22:00+00:00"
        );
        assert_eq!(
            next_in("@every 1h30m", "UTC", after),
            "2024-03-05T11:50:30+00:00"
        );
    }

    #[test]
    fn time_zones_and_daylight_saving() {
        // 02:30 does not exist in Berlin on 2024-03-31: that day is skipped.
        assert_eq!(
            next_in("30 2 * * *", "Europe/Berlin", "2024-03-30T12:00:00Z"),
            "2024-04-01T02:30:00+02:00"
        );
        // 02:30 happens twice on 2024-10-27: the first one fires.
        assert_eq!(
            next_in("30 2 * * *", "Europe/Berlin", "2024-10-26T12:00:00Z"),
            "2024-10-27T02:30:00+02:00"
        );
        assert_eq!(
            next_in("0 9 * * *", "America/New_York", "2024-03-10T12:00:00Z"),
            "2024-03-10T09:00:00-04:00"
        );
        // 09:00 in Tokyo is midnight UTC.
        assert_eq!(
            next_in("TZ=Asia/Tokyo 0 9 * * *", "UTC", "2024-03-10T12:00:00Z"),
            "2024-03-11T00:00:00+00:00"
        );
    }

    #[test]
    fn impossible_and_bad_schedules() {
        let never = Schedule::parse("0 0 30 2 *", TimeZone::UTC).unwrap();
        assert!(never.next(ts("2024-01-01T00:00:00Z")).is_none());
        for bad in [
            "",
            "* * * *",
            "61 * * * *",
            "@often",
            "x * * * *",
            "5-1 * * * *",
            "TZ=Nowhere/Land * * * * *",
        ] {
            assert!(Schedule::parse(bad, TimeZone::UTC).is_err(), "{bad:?}");
        }
    }
}
