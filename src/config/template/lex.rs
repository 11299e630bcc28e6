//! The lexer of template actions: splits the inside of `{{ … }}` into tokens
//! (identifiers, string/number/bool/nil literals, `this`/`@`/`../` references,
//! parentheses, pipes), finds where an action ends (skipping string literals)
//! and decodes Go and handlebars string literals. It knows no function names
//! and builds no trees; it rejects what no template may contain (`$x`, `.Field`,
//! assignments) with a [`Fault`] at the exact byte offset.

#[derive(Debug, Clone, PartialEq)]
pub(super) enum TokKind {
    Ident(String),
    Str(String),
    Num(String),
    Bool(bool),
    Null,
    Ref(String),
    LParen,
    RParen,
    Pipe,
}

#[derive(Debug, Clone)]
pub(super) struct Tok {
    pub(super) kind: TokKind,
    /// Byte offset in the source.
    pub(super) at: usize,
}

/// A problem at a byte offset (converted to line:col by the translator).
pub(super) struct Fault {
    pub(super) at: usize,
    pub(super) message: String,
}

pub(super) fn fault(at: usize, message: impl Into<String>) -> Fault {
    Fault {
        at,
        message: message.into(),
    }
}

/// Splits the inside of an action (`src[from..to]`) into tokens; positions are byte
/// offsets in `src`.
pub(super) fn tokenize(src: &str, from: usize, to: usize) -> Result<Vec<Tok>, Fault> {
    let body = &src[from..to];
    let mut tokens = Vec::new();
    let mut chars = body.char_indices().peekable();
    while let Some(&(i, c)) = chars.peek() {
        let at = from + i;
        if c.is_whitespace() {
            chars.next();
            continue;
        }
        let kind = match c {
            '(' => {
                chars.next();
                TokKind::LParen
            }
            ')' => {
                chars.next();
                TokKind::RParen
            }
            '|' => {
                chars.next();
                TokKind::Pipe
            }
            '"' | '`' | '\'' => {
                let (text, len) = scan_string(&body[i..]).map_err(|m| fault(at, m))?;
                for _ in body[i..i + len].chars() {
                    chars.next();
                }
                TokKind::Str(text)
            }
            '$' => {
                return Err(fault(
                    at,
                    "Go template variables ($x) are not supported; templates can only call functions",
                ));
            }
            '=' | ':' => {
                return Err(fault(
                    at,
                    "assignments and named arguments (x=…) are not supported",
                ));
            }
            '@' => TokKind::Ref(take_while(&mut chars, is_path_char)),
            '.' if body[i..].starts_with("../") => {
                TokKind::Ref(take_while(&mut chars, is_path_char))
            }
            '.' => {
                let word = take_while(&mut chars, is_path_char);
                return Err(fault(
                    at,
                    format!(
                        "Go template data access ({word}) is not supported; templates have no data, use env or must_env"
                    ),
                ));
            }
            c if c.is_ascii_digit() || (c == '-' && next_is_digit(&body[i..])) => {
                let word = take_while(&mut chars, |c| {
                    c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '+' | '_')
                });
                if !is_number(&word) {
                    return Err(fault(at, format!("invalid number {word}")));
                }
                TokKind::Num(word)
            }
            c if c.is_ascii_alphabetic() || c == '_' => {
                let word = take_while(&mut chars, |c| c.is_ascii_alphanumeric() || c == '_');
                if matches!(chars.peek(), Some((_, '.' | '/'))) {
                    let path = take_while(&mut chars, is_path_char);
                    let full = format!("{word}{path}");
                    if word == "this" {
                        TokKind::Ref(full)
                    } else {
                        return Err(fault(
                            at,
                            format!(
                                "unknown variable \"{full}\": templates have no data, use env or must_env"
                            ),
                        ));
                    }
                } else {
                    match word.as_str() {
                        "true" => TokKind::Bool(true),
                        "false" => TokKind::Bool(false),
                        "nil" | "null" => TokKind::Null,
                        "this" => TokKind::Ref(word),
                        _ => TokKind::Ident(word),
                    }
                }
            }
            other => {
                return Err(fault(
                    at,
                    format!("unexpected character '{other}' in action"),
                ));
            }
        };
        tokens.push(Tok { kind, at });
    }
    Ok(tokens)
}

fn is_path_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '/' | '@' | '-')
}

fn take_while(
    chars: &mut std::iter::Peekable<std::str::CharIndices<'_>>,
    keep: impl Fn(char) -> bool,
) -> String {
    let mut word = String::new();
    if let Some((_, c)) = chars.next() {
        word.push(c);
    }
    while let Some(&(_, c)) = chars.peek() {
        if !keep(c) {
            break;
        }
        word.push(c);
        chars.next();
    }
    word
}

fn next_is_digit(s: &str) -> bool {
    s.chars().nth(1).is_some_and(|c| c.is_ascii_digit())
}

fn is_number(word: &str) -> bool {
    let digits = word.strip_prefix('-').unwrap_or(word);
    let (int, frac) = digits.split_once('.').unwrap_or((digits, "0"));
    !int.is_empty()
        && int.chars().all(|c| c.is_ascii_digit())
        && !frac.is_empty()
        && frac.chars().all(|c| c.is_ascii_digit())
}

/// Finds `close` after `from`, skipping string literals.
pub(super) fn find_close(src: &str, from: usize, close: &str) -> Option<usize> {
    let mut i = from;
    while i < src.len() {
        let rest = &src[i..];
        if rest.starts_with(close) {
            return Some(i);
        }
        let c = rest.chars().next()?;
        if matches!(c, '"' | '`' | '\'') {
            // A malformed string is reported by the tokenizer; a "string"
            // that runs into the next action is an unterminated one.
            // `{{ `{{` }}` is how a literal "{{" is written (what `escape`
            // produces), so a string that is exactly "{{" is no runaway.
            if let Ok((value, len)) = scan_string(rest)
                && (value == "{{" || !rest[..len].contains("{{"))
            {
                i += len;
                continue;
            }
        }
        i += c.len_utf8();
    }
    None
}

/// Reads a string literal at the start of `s`: Go `"…"` (with escapes),
/// Go raw `` `…` ``, or handlebars `'…'`. Returns the value and the
/// literal's length in bytes.
pub(super) fn scan_string(s: &str) -> Result<(String, usize), String> {
    let mut chars = s.char_indices();
    let Some((_, quote)) = chars.next() else {
        return Err("expected a string".to_owned());
    };
    if quote == '`' {
        return match s[1..].find('`') {
            Some(end) => Ok((s[1..=end].to_owned(), end + 2)),
            None => Err("unterminated raw string (missing `)".to_owned()),
        };
    }
    let mut value = String::new();
    while let Some((i, c)) = chars.next() {
        if c == quote {
            return Ok((value, i + c.len_utf8()));
        }
        if c != '\\' {
            value.push(c);
            continue;
        }
        let Some((_, e)) = chars.next() else { break };
        match e {
            'n' => value.push('\n'),
            't' => value.push('\t'),
            'r' => value.push('\r'),
            'a' => value.push('\u{7}'),
            'b' => value.push('\u{8}'),
            'f' => value.push('\u{c}'),
            'v' => value.push('\u{b}'),
            '\\' | '"' | '\'' | '/' | '`' => value.push(e),
            'x' | 'u' | 'U' => {
                let len = match e {
                    'x' => 2,
                    'u' => 4,
                    _ => 8,
                };
                let hex: String = chars.by_ref().take(len).map(|(_, c)| c).collect();
                let code = u32::from_str_radix(&hex, 16)
                    .ok()
                    .filter(|_| hex.len() == len)
                    .and_then(char::from_u32)
                    .ok_or_else(|| format!("invalid escape \\{e}{hex} in string"))?;
                value.push(code);
            }
            '0'..='7' => {
                let rest: String = chars.by_ref().take(2).map(|(_, c)| c).collect();
                let code = u32::from_str_radix(&format!("{e}{rest}"), 8)
                    .ok()
                    .and_then(char::from_u32)
                    .ok_or_else(|| format!("invalid escape \\{e}{rest} in string"))?;
                value.push(code);
            }
            other => return Err(format!("unknown escape \\{other} in string")),
        }
    }
    Err(format!("unterminated string (missing {quote})"))
}
