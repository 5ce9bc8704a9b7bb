//! Instants as the API server writes them, read without failing on those
//! jiff cannot represent.
//!
//! The API server stores any instant Go's `time.Time` holds and prints it
//! in RFC 3339 with whatever year it has: `9999-12-31T23:59:00Z`,
//! `10000-01-01T00:00:00Z` and `-0001-12-31T23:00:00Z` are all accepted in
//! a status written by someone we do not control. jiff's range ends at
//! 9999-12-30T22:00:00.999999999Z (and starts in year -9999), so such an
//! instant is read as the nearest one jiff has: [`Timestamp::MAX`] or
//! [`Timestamp::MIN`]. Both mean what the original means to a scheduler:
//! "after every slot" or "before every slot".

use jiff::Timestamp;

/// Reads an RFC 3339 instant; one beyond jiff's range is clamped to its end.
pub fn parse(text: &str) -> Result<Timestamp, String> {
    if let Ok(t) = text.parse::<Timestamp>() {
        return Ok(t);
    }
    let invalid = || format!("not an RFC 3339 time: {text:?}");
    let (year, rest) = split_year(text).ok_or_else(invalid)?;
    // Check everything but the year against a year jiff has (a non-leap
    // one, as 9999 is): a malformed instant stays an error.
    if format!("2001{rest}").parse::<Timestamp>().is_err() {
        return Err(invalid());
    }
    match year {
        y if y < 0 => Ok(Timestamp::MIN),
        y if y >= 9999 => Ok(Timestamp::MAX),
        _ => Err(invalid()),
    }
}

/// `(year, "-MM-DDTHH:MM:SS...")` of an RFC 3339 text with any number of
/// year digits and an optional sign.
fn split_year(text: &str) -> Option<(i64, &str)> {
    let (negative, unsigned) = match text.strip_prefix('-') {
        Some(u) => (true, u),
        None => (false, text.strip_prefix('+').unwrap_or(text)),
    };
    let digits = unsigned.bytes().take_while(u8::is_ascii_digit).count();
    if !(4..=18).contains(&digits) {
        return None;
    }
    let (year, rest) = unsigned.split_at_checked(digits)?;
    let year: i64 = year.parse().ok()?;
    Some((if negative { year.checked_neg()? } else { year }, rest))
}

/// How Kubernetes writes a `metav1.Time`: UTC, whole seconds.
pub fn format(t: Timestamp) -> String {
    t.strftime("%Y-%m-%dT%H:%M:%SZ").to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn representable_instants_read_as_they_are() {
        assert_eq!(
            parse("2026-12-01T10:00:00Z").unwrap(),
            "2026-12-01T10:00:00Z".parse::<Timestamp>().unwrap()
        );
        assert_eq!(
            parse("0000-01-01T00:00:00+01:00").unwrap().to_string(),
            "-000001-12-31T23:00:00Z"
        );
    }

    #[test]
    fn instants_beyond_jiffs_range_are_clamped_to_its_ends() {
        for late in [
            "9999-12-31T23:59:00Z",
            "9999-12-30T22:00:01Z",
            "9999-12-31T00:00:00+01:00",
            "10000-01-01T00:00:00Z",
            "+10000-01-01T00:00:00Z",
            "999999999-06-01T00:00:00.5Z",
        ] {
            assert_eq!(parse(late), Ok(Timestamp::MAX), "{late}");
        }
        assert_eq!(parse("-10000-01-01T00:00:00Z"), Ok(Timestamp::MIN));
        assert_eq!(format(Timestamp::MAX), "9999-12-30T22:00:00Z");
    }

    #[test]
    fn malformed_instants_are_errors() {
        for bad in [
            "",
            "yesterday",
            "9999-13-01T00:00:00Z",
            "9999-02-29T00:00:00Z",
            "10000-01-01",
            "2026-12-01 10:00:00",
            "-",
            "99999999999999999999-01-01T00:00:00Z",
        ] {
            assert!(parse(bad).is_err(), "{bad:?}");
        }
    }
}
