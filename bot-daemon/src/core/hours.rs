//! Business hours: a weekly table of opening ranges and a list of holidays in one time zone.
//! Pure (the time comes in as an argument). Outside the hours a new chat still opens and waits;
//! the welcome says when support is back ([`BusinessHours::back_text`]).
//!
//! Ranges are `HH:MM-HH:MM` in local time, end exclusive, `24:00` allowed as an end; several per
//! day are comma-separated (`08:00-12:00, 13:00-17:00`). A range never crosses midnight (write
//! two). A missing day is closed all day, and so is every holiday (`YYYY-MM-DD`, local date).

use std::collections::BTreeSet;

use chrono::{Datelike, Duration, NaiveDate, TimeZone, Timelike, Weekday};
use chrono_tz::Tz;

use crate::domain::Millis;

/// A business-hours setting that cannot be used, said plainly.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum HoursError {
    /// Not an IANA zone name.
    #[error("unknown time zone {0:?} (use an IANA name such as \"Africa/Lagos\")")]
    TimeZone(String),
    /// A range that does not parse or ends before it starts.
    #[error("bad opening hours {0:?} (expected HH:MM-HH:MM, comma-separated)")]
    Range(String),
    /// A holiday that is not a date.
    #[error("bad holiday {0:?} (expected YYYY-MM-DD)")]
    Holiday(String),
}

/// Weekly opening hours and holidays in a time zone.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BusinessHours {
    tz: Tz,
    /// Monday first; ranges in minutes of the day, `[start, end)`, sorted.
    weekly: [Vec<(u32, u32)>; 7],
    holidays: BTreeSet<NaiveDate>,
}

fn minutes(s: &str) -> Option<u32> {
    let (h, m) = s.trim().split_once(':')?;
    let (h, m): (u32, u32) = (h.parse().ok()?, m.parse().ok()?);
    (m < 60 && (h < 24 || (h == 24 && m == 0))).then_some(h * 60 + m)
}

fn ranges(day: &str) -> Result<Vec<(u32, u32)>, HoursError> {
    let mut out = Vec::new();
    for part in day.split(',').map(str::trim).filter(|p| !p.is_empty()) {
        let bad = || HoursError::Range(part.to_string());
        let (a, b) = part.split_once('-').ok_or_else(bad)?;
        let (a, b) = (minutes(a).ok_or_else(bad)?, minutes(b).ok_or_else(bad)?);
        if a >= b {
            return Err(bad());
        }
        out.push((a, b));
    }
    out.sort_unstable();
    Ok(out)
}

impl BusinessHours {
    /// Builds the table: `days` are the seven days' ranges, Monday first (`None` = closed).
    ///
    /// # Errors
    /// An unknown zone, a bad range or a bad holiday.
    pub fn new(
        timezone: &str,
        days: [Option<&str>; 7],
        holidays: &[String],
    ) -> Result<BusinessHours, HoursError> {
        let tz: Tz = timezone
            .parse()
            .map_err(|_| HoursError::TimeZone(timezone.to_string()))?;
        let mut weekly: [Vec<(u32, u32)>; 7] = Default::default();
        for (slot, day) in weekly.iter_mut().zip(days) {
            if let Some(d) = day {
                *slot = ranges(d)?;
            }
        }
        let holidays = holidays
            .iter()
            .map(|h| {
                NaiveDate::parse_from_str(h.trim(), "%Y-%m-%d")
                    .map_err(|_| HoursError::Holiday(h.clone()))
            })
            .collect::<Result<_, _>>()?;
        Ok(BusinessHours {
            tz,
            weekly,
            holidays,
        })
    }

    /// The zone's name.
    pub fn timezone(&self) -> Tz {
        self.tz
    }

    fn local(&self, now: Millis) -> Option<chrono::DateTime<Tz>> {
        self.tz.timestamp_millis_opt(now).single()
    }

    fn day(&self, date: NaiveDate) -> &[(u32, u32)] {
        if self.holidays.contains(&date) {
            return &[];
        }
        &self.weekly[date.weekday().num_days_from_monday() as usize]
    }

    /// Whether support is open at `now`.
    pub fn is_open(&self, now: Millis) -> bool {
        let Some(t) = self.local(now) else {
            return true;
        };
        let m = t.hour() * 60 + t.minute();
        self.day(t.date_naive())
            .iter()
            .any(|&(a, b)| a <= m && m < b)
    }

    /// When support next opens after `now` (local time); `None` when open now or never
    /// within a year.
    pub fn next_open(&self, now: Millis) -> Option<chrono::DateTime<Tz>> {
        if self.is_open(now) {
            return None;
        }
        let t = self.local(now)?;
        let today = t.date_naive();
        let m = t.hour() * 60 + t.minute();
        for d in 0..=370 {
            let date = today + Duration::days(d);
            for &(a, _) in self.day(date) {
                if d == 0 && a <= m {
                    continue;
                }
                let naive = date.and_hms_opt(a / 60, a % 60, 0)?;
                // A start inside a DST gap opens at the first valid minute after it.
                let opens = self.tz.from_local_datetime(&naive).earliest().or_else(|| {
                    self.tz
                        .from_local_datetime(&(naive + Duration::hours(1)))
                        .earliest()
                });
                if let Some(o) = opens {
                    return Some(o);
                }
            }
        }
        None
    }

    /// "today at 14:00", "tomorrow at 08:00", "on Monday at 08:00" (within a week) or
    /// "on Monday 5 January at 08:00"; `None` when open now.
    pub fn back_text(&self, now: Millis) -> Option<String> {
        let opens = self.next_open(now)?;
        let today = self.local(now)?.date_naive();
        let days = (opens.date_naive() - today).num_days();
        let hm = opens.format("%H:%M");
        Some(match days {
            0 => format!("today at {hm}"),
            1 => format!("tomorrow at {hm}"),
            2..=6 => format!("on {} at {hm}", weekday_name(opens.weekday())),
            _ => format!(
                "on {} {} at {hm}",
                weekday_name(opens.weekday()),
                opens.format("%-d %B")
            ),
        })
    }
}

fn weekday_name(d: Weekday) -> &'static str {
    match d {
        Weekday::Mon => "Monday",
        Weekday::Tue => "Tuesday",
        Weekday::Wed => "Wednesday",
        Weekday::Thu => "Thursday",
        Weekday::Fri => "Friday",
        Weekday::Sat => "Saturday",
        Weekday::Sun => "Sunday",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Unix ms of a UTC date-time.
    fn utc(y: i32, mo: u32, d: u32, h: u32, mi: u32) -> Millis {
        chrono::Utc
            .with_ymd_and_hms(y, mo, d, h, mi, 0)
            .unwrap()
            .timestamp_millis()
    }

    fn lagos() -> BusinessHours {
        let week = Some("08:00-17:00");
        BusinessHours::new(
            "Africa/Lagos",
            [week, week, week, week, week, Some("09:00-13:00"), None],
            &["2026-12-25".to_string()],
        )
        .unwrap()
    }

    #[test]
    fn open_and_closed_in_local_time_not_utc() {
        let h = lagos();
        // Monday 2026-11-23: Lagos is UTC+1.
        assert!(h.is_open(utc(2026, 11, 23, 7, 0))); // 08:00 local
        assert!(!h.is_open(utc(2026, 11, 23, 6, 59))); // 07:59 local
        assert!(h.is_open(utc(2026, 11, 23, 15, 59))); // 16:59 local
        assert!(!h.is_open(utc(2026, 11, 23, 16, 0))); // 17:00 local: end is exclusive
        assert_eq!(
            h.back_text(utc(2026, 11, 23, 6, 30)).as_deref(),
            Some("today at 08:00")
        );
        assert_eq!(h.back_text(utc(2026, 11, 23, 12, 0)), None);
    }

    #[test]
    fn across_the_date_line_of_the_zone() {
        let h = lagos();
        // Sunday 23:30 UTC is already Monday 00:30 in Lagos: back today, not tomorrow.
        let t = utc(2026, 11, 22, 23, 30);
        assert!(!h.is_open(t));
        assert_eq!(h.back_text(t).as_deref(), Some("today at 08:00"));
        // Saturday 12:30 UTC = 13:30 local, after Saturday's hours: back Monday.
        assert_eq!(
            h.back_text(utc(2026, 11, 21, 12, 30)).as_deref(),
            Some("on Monday at 08:00")
        );
        let back = h.next_open(utc(2026, 11, 21, 12, 30)).unwrap();
        assert_eq!(back.timestamp_millis(), utc(2026, 11, 23, 7, 0));
    }

    #[test]
    fn a_holiday_is_closed_all_day() {
        let h = lagos();
        // Friday 25 December 2026, 10:00 local: a holiday. Saturday opens at 09:00.
        let t = utc(2026, 12, 25, 9, 0);
        assert!(!h.is_open(t));
        assert_eq!(h.back_text(t).as_deref(), Some("tomorrow at 09:00"));
        // Thursday evening before it: the next opening skips the holiday.
        assert_eq!(
            h.back_text(utc(2026, 12, 24, 18, 0)).as_deref(),
            Some("on Saturday at 09:00")
        );
    }

    #[test]
    fn far_openings_name_the_date_and_bad_settings_are_refused() {
        let h = BusinessHours::new(
            "Europe/London",
            [Some("09:00-10:00"), None, None, None, None, None, None],
            &["2026-11-30".to_string()],
        )
        .unwrap();
        // Tuesday 24 Nov: next Monday is the 30th (holiday), so Monday 7 December.
        assert_eq!(
            h.back_text(utc(2026, 11, 24, 12, 0)).as_deref(),
            Some("on Monday 7 December at 09:00")
        );
        assert!(matches!(
            BusinessHours::new("Mars/Olympus", [None; 7], &[]),
            Err(HoursError::TimeZone(_))
        ));
        assert!(matches!(
            BusinessHours::new(
                "UTC",
                [Some("17:00-08:00"), None, None, None, None, None, None],
                &[]
            ),
            Err(HoursError::Range(_))
        ));
        assert!(matches!(
            BusinessHours::new("UTC", [None; 7], &["25/12/2026".into()]),
            Err(HoursError::Holiday(_))
        ));
        let all_day = BusinessHours::new("UTC", [Some("00:00-24:00"); 7], &[]).unwrap();
        assert!(all_day.is_open(utc(2026, 11, 24, 23, 59)));
    }
}
