//! Parsers for flag values: durations, sizes, header sizes, credential names.

use std::time::Duration;

/// Parses one `--prefetch` name: trimmed, and held to the placeholder grammar's NAME (no `/`,
/// `{`, `}` or whitespace), so a name no placeholder could use is refused at start-up instead
/// of being retried for ever. An empty name (`a,,b`) is left for the caller to skip.
pub fn parse_credential_name(text: &str) -> Result<String, String> {
    let name = text.trim();
    if name
        .chars()
        .any(|c| matches!(c, '/' | '{' | '}') || c.is_whitespace())
    {
        return Err(format!(
            "`{name}` is not a credential name (no `/`, `{{`, `}}` or whitespace)"
        ));
    }
    Ok(name.to_owned())
}

/// Parses a humantime duration such as `30s`, `250ms` or `5m`.
pub fn parse_duration(text: &str) -> Result<Duration, String> {
    humantime::parse_duration(text.trim())
        .map_err(|err| format!("`{text}` is not a duration such as 30s, 250ms or 5m ({err})"))
}

/// Parses a byte size: a plain number of bytes, or a number with B, KB, KiB, MB, MiB, GB or GiB.
pub fn parse_size(text: &str) -> Result<usize, String> {
    let trimmed = text.trim();
    let split = trimmed
        .find(|c: char| !c.is_ascii_digit())
        .unwrap_or(trimmed.len());
    let (digits, unit) = trimmed.split_at(split);
    let number: usize = digits
        .parse()
        .map_err(|_| format!("`{text}` is not a size such as 1048576, 512KiB or 1MiB"))?;
    let multiplier: usize = match unit.trim().to_ascii_lowercase().as_str() {
        "" | "b" => 1,
        "kb" => 1_000,
        "kib" | "k" => 1 << 10,
        "mb" => 1_000_000,
        "mib" | "m" => 1 << 20,
        "gb" => 1_000_000_000,
        "gib" | "g" => 1 << 30,
        other => {
            return Err(format!(
                "`{other}` is not a size unit (use B, KiB, MiB or GiB)"
            ))
        }
    };
    let size = number
        .checked_mul(multiplier)
        .ok_or_else(|| format!("`{text}` is too large"))?;
    if size == 0 {
        return Err("a size must be greater than zero".into());
    }
    Ok(size)
}

/// Parses `--max-header-bytes`: a size of at least
/// [`MIN_HEADER_BYTES`](crate::http::server::MIN_HEADER_BYTES), since the HTTP/1.1 server cannot read
/// with a smaller buffer and would silently raise a smaller value.
pub fn parse_header_size(text: &str) -> Result<usize, String> {
    let size = parse_size(text)?;
    if size < crate::http::server::MIN_HEADER_BYTES {
        return Err(format!(
            "`{text}` is too small: at least 8KiB: the HTTP/1.1 server's smallest read buffer"
        ));
    }
    Ok(size)
}
