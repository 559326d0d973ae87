//! The run directory's copy of `sut.toml`, with secret-looking values redacted: run
//! directories become CI artifacts, and a manifest's `env` may hold a client secret or a
//! password.
//!
//! A value is secret-looking when its key names a secret (`SECRET`, `PASSWORD`, `TOKEN`,
//! `API_KEY`, …, in any case, anywhere in the key, unless the key ends in `URL`, `FILE`,
//! `PATH` and the like) and it is a literal string, not only placeholders such as
//! `{erp.url}`. Each occurrence of such a value, quoted, is replaced
//! by `"<redacted>"`; the rest of the file (comments, layout) is kept as written.

/// What a redacted value reads as.
pub const REDACTED: &str = "<redacted>";

/// Parts of a key that name a secret (compared in upper case).
const SECRET_WORDS: [&str; 10] = [
    "SECRET",
    "PASSWORD",
    "PASSWD",
    "PASSPHRASE",
    "TOKEN",
    "API_KEY",
    "APIKEY",
    "PRIVATE",
    "CREDENTIAL",
    "AUTH",
];

/// Endings of keys that say where a secret is, not what it is (`TOKEN_URL`).
const WHERE_WORDS: [&str; 6] = ["URL", "URI", "ENDPOINT", "FILE", "PATH", "DIR"];

/// Whether a key names a secret.
pub fn secret_key(key: &str) -> bool {
    let key = key.to_ascii_uppercase();
    SECRET_WORDS.iter().any(|w| key.contains(w)) && !WHERE_WORDS.iter().any(|w| key.ends_with(w))
}

/// The manifest text with every secret-looking value replaced, and how many were. A text
/// that does not parse is returned unchanged (it was refused before a run could start).
pub fn redact(text: &str) -> (String, usize) {
    let Ok(table) = text.parse::<toml::Table>() else {
        return (text.to_string(), 0);
    };
    let mut secrets = Vec::new();
    collect(&table, &mut secrets);
    // Longest first, so that a secret containing another is replaced whole.
    secrets.sort_by_key(|s| std::cmp::Reverse(s.len()));
    secrets.dedup();
    let mut out = text.to_string();
    let mut count = 0;
    for secret in &secrets {
        for quoted in quoted_forms(secret) {
            let n = out.matches(&quoted).count();
            if n > 0 {
                out = out.replace(&quoted, &format!("\"{REDACTED}\""));
                count += n;
            }
        }
    }
    (out, count)
}

/// The string values under secret-looking keys, at any depth.
fn collect(table: &toml::Table, out: &mut Vec<String>) {
    for (key, value) in table {
        match value {
            toml::Value::String(s) if secret_key(key) && literal(s) => out.push(s.clone()),
            toml::Value::Table(t) => collect(t, out),
            toml::Value::Array(items) => {
                for item in items {
                    if let toml::Value::Table(t) = item {
                        collect(t, out);
                    }
                }
            }
            _ => {}
        }
    }
}

/// Whether a value holds something of its own besides placeholders (`{erp.url}`): a value
/// made of placeholders only says where, not what, and stays readable.
fn literal(value: &str) -> bool {
    let mut rest = value;
    let mut own = String::new();
    while let Some(open) = rest.find('{') {
        own.push_str(&rest[..open]);
        match rest[open..].find('}') {
            Some(close) => rest = &rest[open + close + 1..],
            None => {
                own.push_str(&rest[open..]);
                rest = "";
            }
        }
    }
    own.push_str(rest);
    !own.trim().is_empty()
}

/// How a string can appear in TOML source: basic (with escapes) and literal quotes.
fn quoted_forms(value: &str) -> Vec<String> {
    let mut basic = String::from("\"");
    for c in value.chars() {
        match c {
            '"' => basic.push_str("\\\""),
            '\\' => basic.push_str("\\\\"),
            '\n' => basic.push_str("\\n"),
            '\t' => basic.push_str("\\t"),
            c => basic.push(c),
        }
    }
    basic.push('"');
    let mut forms = vec![basic, format!("\"{value}\"")];
    if !value.contains('\'') {
        forms.push(format!("'{value}'"));
    }
    forms.dedup();
    forms
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secret_values_of_env_are_redacted_and_the_rest_kept() {
        let text = r#"# my bridge
name = "bridge"
[start]
command = ["bridge", "--port", "{port}"]
env = { ERP_URL = "{erp.url}", CLIENT_ID = "andon", CLIENT_SECRET = "s3cr3t", DB_PASSWORD = 'hunter2' }
"#;
        let (out, n) = redact(text);
        assert_eq!(n, 2);
        assert!(!out.contains("s3cr3t"), "{out}");
        assert!(!out.contains("hunter2"), "{out}");
        assert!(out.contains(r#"CLIENT_SECRET = "<redacted>""#), "{out}");
        assert!(out.contains(r#"DB_PASSWORD = "<redacted>""#), "{out}");
        assert!(out.contains(r#"CLIENT_ID = "andon""#), "{out}");
        assert!(out.contains("# my bridge"), "{out}");
        // Still a manifest of the same shape.
        let t: toml::Table = out.parse().expect("redacted text parses");
        assert_eq!(t["start"]["env"]["ERP_URL"].as_str(), Some("{erp.url}"));
    }

    #[test]
    fn a_secret_in_a_table_of_its_own_and_with_escapes_is_redacted() {
        let text = "[start.env]\nAPI_TOKEN = \"a\\\"b\"\nauth_header = \"Bearer xyz\"\n";
        let (out, n) = redact(text);
        assert_eq!(n, 2, "{out}");
        assert!(!out.contains("xyz") && !out.contains("a\\\"b"), "{out}");
    }

    #[test]
    fn placeholders_only_and_non_secret_keys_stay() {
        let text = "[start.env]\nTOKEN_URL = \"{erp.url}/oauth/token\"\nSECRET = \"{run.dir}\"\nPORT = \"8080\"\n";
        let (out, n) = redact(text);
        assert_eq!(n, 0, "{out}");
        assert!(
            out.contains("TOKEN_URL = \"{erp.url}/oauth/token\""),
            "{out}"
        );
        assert!(out.contains("SECRET = \"{run.dir}\""), "{out}");
        assert!(out.contains("PORT = \"8080\""), "{out}");
    }

    #[test]
    fn a_text_that_does_not_parse_is_left_alone() {
        let (out, n) = redact("env = {");
        assert_eq!((out.as_str(), n), ("env = {", 0));
    }
}
