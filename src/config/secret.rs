//! The Target bearer token, kept out of logs, errors and `Debug` output, and checked when it is
//! read so that it can always go into an HTTP header.
//!
//! A token with an inner line break or a control character cannot be sent as a header value: the
//! request would fail to build on every try, look like an outage and never reach Target. So it is
//! refused where the file is read (start-up, `check-config`, and each re-read of the file, which
//! then keeps the token it had), naming the file and the rule, never the token.
//!
//! The text is held in a [`SecretString`] (the `secrecy` crate): `Debug` prints `[REDACTED]`, and
//! the memory is wiped when the last copy is dropped.

use secrecy::{ExposeSecret, SecretString};

/// A bearer token for Target's profile API. Its text is reachable only through [`Token::expose`],
/// which the HTTP client calls when it builds the `Authorization` header.
#[derive(Clone, Debug)]
pub struct Token(SecretString);

/// Why a token file's text is not a token. Names the character's kind and place, never the token.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error(
    "contains {what} at character {at}; a token is one line of visible ASCII characters \
     (letters, digits and punctuation, no spaces), as an HTTP header value requires"
)]
pub struct TokenProblem {
    /// What kind of character broke the rule: "a line break", "a control character", …
    pub what: &'static str,
    /// Its place in the token, counting from 1 after surrounding white space is dropped.
    pub at: usize,
}

impl Token {
    /// Wraps a token read from a file, dropping surrounding white space and the trailing newline
    /// that editors add. An empty file means no token. Anything else but visible ASCII is refused.
    pub fn from_file_text(text: &str) -> Result<Option<Token>, TokenProblem> {
        let trimmed = text.trim();
        if let Some((index, c)) = trimmed
            .chars()
            .enumerate()
            .find(|(_, c)| !c.is_ascii_graphic())
        {
            return Err(TokenProblem {
                what: kind_of(c),
                at: index + 1,
            });
        }
        Ok((!trimmed.is_empty()).then(|| Token(SecretString::from(trimmed))))
    }

    /// Reads the token from `path`. Errors name the file, never its content.
    pub fn read_file(path: &std::path::Path) -> anyhow::Result<Option<Token>> {
        let text = std::fs::read_to_string(path).map_err(|e| {
            anyhow::anyhow!(
                "cannot read the token file {} (target.token_file): {e}",
                path.display()
            )
        })?;
        Token::from_file_text(&text).map_err(|problem| {
            anyhow::anyhow!(
                "the token in {} (target.token_file) cannot be sent: it {problem}",
                path.display()
            )
        })
    }

    /// The token's text, for the `Authorization` header only.
    pub fn expose(&self) -> &str {
        self.0.expose_secret()
    }
}

/// Tokens are equal when their text is: the file watcher compares a token it re-read with the one
/// in use.
impl PartialEq for Token {
    fn eq(&self, other: &Token) -> bool {
        self.expose() == other.expose()
    }
}

impl Eq for Token {}

/// A character a token may not hold, in words.
fn kind_of(c: char) -> &'static str {
    match c {
        '\n' | '\r' => "a line break",
        ' ' | '\t' => "white space",
        c if c.is_control() => "a control character",
        _ => "a character that is not ASCII",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_output_never_shows_the_token() {
        let token = Token::from_file_text("s3cr3t-value\n");
        let shown = format!("{token:?} {token:#?}");
        assert!(!shown.contains("s3cr3t"), "{shown}");
        assert!(shown.contains("REDACTED"), "{shown}");
    }

    #[test]
    fn a_blank_token_file_means_no_token() {
        assert_eq!(Token::from_file_text(" \n"), Ok(None));
        assert_eq!(
            Token::from_file_text("abc\n").map(|t| t.map(|t| t.expose().to_owned())),
            Ok(Some("abc".to_owned()))
        );
    }

    #[test]
    fn a_token_that_cannot_be_a_header_value_is_refused_naming_the_character_never_the_token() {
        let cases = [
            ("s3cr3t\nsecond-line\n", "a line break", 7),
            ("s3cr3t\r\nx", "a line break", 7),
            ("s3\u{7}cr3t", "a control character", 3),
            ("s3cr3t value", "white space", 7),
            ("s3\tcr3t", "white space", 3),
            ("s3cr3té", "a character that is not ASCII", 7),
            ("s3cr3t\u{7f}", "a control character", 7),
        ];
        for (text, what, at) in cases {
            let refused = Token::from_file_text(text);
            assert_eq!(refused, Err(TokenProblem { what, at }), "{text:?}");
            let message = refused.err().map(|e| e.to_string()).unwrap_or_default();
            assert!(!message.contains("s3"), "{message}");
        }
    }

    #[test]
    fn a_file_with_a_bad_token_is_refused_naming_the_file_and_the_rule_not_the_token() {
        let dir = tempfile::tempdir().map_err(|e| e.to_string());
        let Ok(dir) = dir else { panic!("{dir:?}") };
        let path = dir.path().join("token");
        let written = std::fs::write(&path, "s3cr3t\nsecond-line\n");
        assert!(written.is_ok(), "{written:?}");
        let message = Token::read_file(&path)
            .err()
            .map(|e| e.to_string())
            .unwrap_or_default();
        assert!(message.contains(&path.display().to_string()), "{message}");
        assert!(message.contains("target.token_file"), "{message}");
        assert!(message.contains("a line break at character 7"), "{message}");
        assert!(
            !message.contains("s3cr3t") && !message.contains("second"),
            "{message}"
        );
    }

    proptest::proptest! {
        #[test]
        fn every_accepted_token_makes_a_valid_authorization_header(text in ".{0,40}") {
            if let Ok(Some(token)) = Token::from_file_text(&text) {
                let header = format!("Bearer {}", token.expose());
                proptest::prop_assert!(reqwest::header::HeaderValue::from_str(&header).is_ok());
            }
        }

        #[test]
        fn a_token_of_visible_ascii_is_accepted_as_it_is(text in "[!-~]{1,64}") {
            let token = Token::from_file_text(&format!(" {text}\n"));
            proptest::prop_assert_eq!(token.map(|t| t.map(|t| t.expose().to_owned())), Ok(Some(text)));
        }
    }
}
