//! Every problem in a calendar file is reported at its line, column and field.

use jiff::civil::{Time, date};

use crate::calendar::{Calendar, Week};
use crate::diag::SourceErrors;

fn errors(source: &str) -> Vec<String> {
    match Calendar::from_toml("bad.toml", source) {
        Ok(_) => panic!("expected errors for:\n{source}"),
        Err(SourceErrors(errors)) => errors.iter().map(ToString::to_string).collect(),
    }
}

const HEADER: &str = "id = \"test\"\n";

#[test]
fn the_optional_keys_change_week_hours_and_zone() {
    let source = r#"id = "saturday-service"
time_zone = "Asia/Urumqi"
week = ["tue", "wed", "thu", "fri", "sat"]
office_hours = ["08:30-12:00", "14:30-18:00"]
[[year]]
year = 2024
notice = "local notice"
days = [{ date = 2023-12-29, kind = "off", name = "test" }]
"#;
    let cal = Calendar::from_toml("ok.toml", source).unwrap();
    assert_eq!(cal.id(), "saturday-service");
    assert_eq!(cal.time_zone().iana_name(), Some("Asia/Urumqi"));
    assert!(cal.is_working_day(date(2024, 3, 2)), "Saturday");
    assert!(!cal.is_working_day(date(2024, 3, 4)), "Monday");
    assert_ne!(cal.week(), &Week::mon_to_fri());
    // Listed under 2024 but in 2023: honoured.
    assert!(!cal.is_working_day(date(2023, 12, 29)));
    let hours: Vec<(Time, Time)> = cal.office_hours().collect();
    assert_eq!(
        hours[1],
        (Time::constant(14, 30, 0, 0), Time::constant(18, 0, 0, 0))
    );
    assert_eq!(cal.working_day_seconds(), 7 * 3600);
}

#[test]
fn unknown_kind_names_line_column_and_field() {
    let source = format!(
        "{HEADER}[[year]]\nyear = 2026\nnotice = \"n\"\ndays = [\n  {{ date = 2026-01-01, kind = \"off\", name = \"元旦\" }},\n  {{ date = 2026-01-02, kind = \"holiday\", name = \"元旦\" }},\n]\n"
    );
    assert_eq!(
        errors(&source),
        [
            "bad.toml:7:31: year[0].days[1].kind: unknown kind `holiday`; expected \"off\" or \"work\""
        ]
    );
}

#[test]
fn a_date_listed_twice_points_at_both() {
    let source = format!(
        "{HEADER}[[year]]\nyear = 2025\nnotice = \"n\"\ndays = [{{ date = 2025-12-31, kind = \"off\", name = \"x\" }}]\n\
         [[year]]\nyear = 2026\nnotice = \"n\"\ndays = [{{ date = 2025-12-31, kind = \"off\", name = \"x\" }}]\n"
    );
    assert_eq!(
        errors(&source),
        [
            "bad.toml:9:18: year[1].days[0].date: 2025-12-31 is already listed at line 5 (year[0].days[0].date)"
        ]
    );
}

#[test]
fn make_up_days_on_weekdays_are_refused_but_weekend_holidays_are_not() {
    let source = format!(
        "{HEADER}[[year]]\nyear = 2026\nnotice = \"n\"\ndays = [\n  {{ date = 2026-02-15, kind = \"off\", name = \"春节\" }},\n  {{ date = 2026-02-16, kind = \"work\", name = \"春节\" }},\n]\n"
    );
    assert_eq!(
        errors(&source),
        [
            "bad.toml:7:31: year[0].days[1].kind: 2026-02-16 is a Monday, already a working day in \
             this calendar's week; `work` is for make-up days on days the week has off"
        ]
    );
}

#[test]
fn bad_time_zone_and_office_hours() {
    let source = format!(
        "{HEADER}time_zone = \"Asia/Peking\"\noffice_hours = [\"09:00-12:00\", \"11:30-13:00\", \"14:00-14:00\", \"2pm-5pm\"]\n\
         [[year]]\nyear = 2026\nnotice = \"n\"\n"
    );
    let errors = errors(&source);
    assert_eq!(errors.len(), 4, "{errors:#?}");
    assert!(
        errors[0].starts_with("bad.toml:2:13: time_zone: unknown time zone `Asia/Peking`"),
        "{}",
        errors[0]
    );
    assert_eq!(
        errors[1],
        "bad.toml:3:32: office_hours[1]: `11:30-13:00` starts before the previous interval \
         closes; list intervals in order without overlap"
    );
    assert_eq!(
        errors[2],
        "bad.toml:3:47: office_hours[2]: `14:00-14:00` is empty: it must close after it opens"
    );
    assert!(errors[3].starts_with("bad.toml:3:62: office_hours[3]: `2pm-5pm` is not an interval"));
}

#[test]
fn dates_far_from_their_year_and_missing_years() {
    let source = format!(
        "{HEADER}[[year]]\nyear = 2024\nnotice = \"n\"\n[[year]]\nyear = 2026\nnotice = \"n\"\n\
         days = [{{ date = 2028-01-01, kind = \"off\", name = \"x\" }}]\n"
    );
    assert_eq!(
        errors(&source),
        [
            "bad.toml:6:8: year[1].year: years must be consecutive: 2025 is missing before 2026; \
             a missing year would silently follow the default week",
            "bad.toml:8:18: year[1].days[0].date: 2028-01-01 is more than a year away from the \
             [[year]] 2026 it is listed under",
        ]
    );
}

#[test]
fn shape_errors_from_toml_name_the_field() {
    // A wrong type deep inside the days array.
    let source = format!(
        "{HEADER}[[year]]\nyear = 2026\nnotice = \"n\"\ndays = [{{ date = 2026-01-01, kind = 5, name = \"x\" }}]\n"
    );
    let errors = errors(&source);
    assert_eq!(errors.len(), 1);
    assert!(
        errors[0].starts_with("bad.toml:5:37: year[0].days[0].kind: invalid type: integer `5`"),
        "{}",
        errors[0]
    );
    // An unknown key.
    let source = format!("{HEADER}weekk = [\"mon\"]\n[[year]]\nyear = 2026\nnotice = \"n\"\n");
    let errors = self::errors(&source);
    assert!(
        errors[0].starts_with("bad.toml:2:1: weekk: unknown field `weekk`"),
        "{}",
        errors[0]
    );
    // A missing key.
    let source = format!("{HEADER}[[year]]\nyear = 2026\n");
    let errors = self::errors(&source);
    assert!(
        errors[0].contains(": year[0]: missing field `notice`"),
        "{}",
        errors[0]
    );
}

#[test]
fn a_calendar_needs_a_year_and_a_working_weekday() {
    let source = format!("{HEADER}week = []\n");
    assert_eq!(
        errors(&source),
        [
            "bad.toml:2:8: week: needs at least one working weekday, e.g. [\"mon\", \"tue\", \"wed\", \"thu\", \"fri\"]",
            "bad.toml: year: no [[year]] block: a calendar needs at least one year's notice",
        ]
    );
}
