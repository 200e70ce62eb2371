//! The Target bearer token, kept out of logs, errors and `Debug` output.

use std::fmt;

/// A bearer token for Target's profile API. Its text is reachable only through [`Token::expose`],
/// which the HTTP client calls when it builds the `Authorization` header.
#[derive(Clone, PartialEq, Eq)]
pub struct Token(String);

impl Token {
    /// Wraps a token read from a file, dropping surrounding white space and the trailing newline
    /// that editors add. An empty file means no token.
    pub fn from_file_text(text: &str) -> Option<Token> {
        let trimmed = text.trim();
        (!trimmed.is_empty()).then(|| Token(trimmed.to_owned()))
    }

    /// Reads the token from `path`. Errors name the file, never its content.
    pub fn read_file(path: &std::path::Path) -> anyhow::Result<Option<Token>> {
        let text = std::fs::read_to_string(path).map_err(|e| {
            anyhow::anyhow!(
                "cannot read the token file {} (target.token_file): {e}",
                path.display()
            )
        })?;
        Ok(Token::from_file_text(&text))
    }

    /// The token's text, for the `Authorization` header only.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Token {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Token(<redacted>)")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_output_never_shows_the_token() {
        let token = Token::from_file_text("s3cr3t-value\n");
        let shown = format!("{token:?}");
        assert!(!shown.contains("s3cr3t"), "{shown}");
        assert!(shown.contains("redacted"));
    }

    #[test]
    fn a_blank_token_file_means_no_token() {
        assert_eq!(Token::from_file_text(" \n"), None);
        assert_eq!(
            Token::from_file_text("abc\n").map(|t| t.expose().to_owned()),
            Some("abc".to_owned())
        );
    }
}
