//! A CronJob's schedule as validation sees it: parsed as upstream's cron
//! library parses it (see [`crate::cron`]), with a time zone it knows.

/// Checks a schedule; `Err` carries the library's message.
pub fn parse_standard(spec: &str) -> Result<(), String> {
    let schedule = crate::cron::parse(spec)?;
    match schedule.zone {
        Some(zone) if !super::batch::time_zone_known(&zone) => Err(format!(
            "provided bad location {zone}: unknown time zone {zone}"
        )),
        _ => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_zone_prefix_must_name_a_known_zone() {
        assert_eq!(parse_standard("TZ=UTC 0 * * * *"), Ok(()));
        assert_eq!(
            parse_standard("TZ=Local 0 * * * *").unwrap_err(),
            "provided bad location Local: unknown time zone Local"
        );
    }
}
