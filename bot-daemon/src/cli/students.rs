//! Importing known students from a CSV file: `phone_number,name` per line, an optional header.
//! The file is checked whole first; one bad line imports nothing and names the line.

use std::path::Path;

use crate::domain::{parse_address, Address};

/// Reads and checks the CSV; returns (phone digits, name) pairs.
///
/// # Errors
/// Every bad line, by number, in one message.
pub fn read_csv(path: &Path) -> Result<Vec<(String, String)>, String> {
    let text =
        std::fs::read_to_string(path).map_err(|e| format!("reading {}: {e}", path.display()))?;
    parse_csv(&text)
}

/// Parses CSV text (see [`read_csv`]).
///
/// # Errors
/// Every bad line, by number, in one message.
pub fn parse_csv(text: &str) -> Result<Vec<(String, String)>, String> {
    let mut reader = csv::ReaderBuilder::new()
        .has_headers(false)
        .flexible(true)
        .trim(csv::Trim::All)
        .from_reader(text.as_bytes());
    let mut rows = Vec::new();
    let mut problems = Vec::new();
    for (i, record) in reader.records().enumerate() {
        let line = i + 1;
        let record = match record {
            Ok(r) => r,
            Err(e) => {
                problems.push(format!("line {line}: {e}"));
                continue;
            }
        };
        let phone = record.get(0).unwrap_or("");
        let name = record.get(1).unwrap_or("");
        if line == 1 && phone.to_ascii_lowercase().contains("phone") {
            continue; // header
        }
        if phone.is_empty() && name.is_empty() {
            continue;
        }
        match parse_address(phone) {
            Ok(Address::Phone(p)) if !name.is_empty() && name.chars().count() <= 120 => {
                rows.push((p, name.to_string()))
            }
            Ok(Address::Phone(_)) => problems.push(format!(
                "line {line}: the name must have 1 to 120 characters"
            )),
            Ok(Address::UserId(_)) => {
                problems.push(format!("line {line}: {phone:?} is not a phone number"))
            }
            Err(e) => problems.push(format!("line {line}: {e}")),
        }
    }
    if problems.is_empty() {
        Ok(rows)
    } else {
        Err(problems.join("\n"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn header_spaces_and_plus_signs_are_fine() {
        let rows =
            parse_csv("phone_number,name\n+234 801 111 1111, Ada Obi\n2348022222222,Ben Eze\n\n")
                .unwrap();
        assert_eq!(
            rows,
            vec![
                ("2348011111111".to_string(), "Ada Obi".to_string()),
                ("2348022222222".to_string(), "Ben Eze".to_string())
            ]
        );
    }

    #[test]
    fn bad_lines_are_all_named_and_nothing_is_returned() {
        let err = parse_csv("2348011111111,Ada\nabc,Ben\n2348033333333,\n").unwrap_err();
        assert!(err.contains("line 2"), "{err}");
        assert!(err.contains("line 3"), "{err}");
    }
}
