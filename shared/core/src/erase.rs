//! The row filter of an erase request (`lakeline table erase --where "EXPR"`), parsed into
//! plain data. The grammar is deliberately small, so what gets erased is never a surprise:
//!
//! ```text
//! expr      := condition ( AND condition )*
//! condition := column = literal | column IN ( literal [, literal]* )
//! literal   := 'text' ('' inside is one ')  |  number  |  true | false
//! ```
//!
//! Keywords are case-insensitive; a column is a bare name (`[A-Za-z_][A-Za-z0-9_]*`). The
//! literal's meaning comes from the column's type when the filter is applied (a number
//! compared with a string column is the string of its digits).

pub mod scan;

/// One literal, as written.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Literal {
    /// A quoted text (quotes removed, `''` as `'`).
    Text(String),
    /// A number, as written (`42`, `-1.5`).
    Number(String),
    /// `true` or `false`.
    Bool(bool),
}

impl Literal {
    /// The literal as text, for a cast to the column's type.
    pub fn as_text(&self) -> String {
        match self {
            Literal::Text(s) | Literal::Number(s) => s.clone(),
            Literal::Bool(b) => b.to_string(),
        }
    }
}

/// `column = v` or `column IN (v, …)`: a row matches when its value equals one of `values`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Condition {
    /// The column.
    pub column: String,
    /// The values it may equal.
    pub values: Vec<Literal>,
}

#[derive(Debug, Clone, PartialEq)]
enum Token {
    Word(String),
    Text(String),
    Number(String),
    Eq,
    Open,
    Close,
    Comma,
}

fn tokens(s: &str) -> Result<Vec<Token>, String> {
    let b: Vec<char> = s.chars().collect();
    let mut out = Vec::new();
    let mut i = 0;
    while i < b.len() {
        let c = b[i];
        match c {
            _ if c.is_whitespace() => i += 1,
            '=' => {
                out.push(Token::Eq);
                i += 1
            }
            '(' => {
                out.push(Token::Open);
                i += 1
            }
            ')' => {
                out.push(Token::Close);
                i += 1
            }
            ',' => {
                out.push(Token::Comma);
                i += 1
            }
            '\'' => {
                let mut t = String::new();
                i += 1;
                loop {
                    match b.get(i) {
                        None => return Err(format!("unterminated quote in {s:?}")),
                        Some('\'') if b.get(i + 1) == Some(&'\'') => {
                            t.push('\'');
                            i += 2;
                        }
                        Some('\'') => {
                            i += 1;
                            break;
                        }
                        Some(ch) => {
                            t.push(*ch);
                            i += 1;
                        }
                    }
                }
                out.push(Token::Text(t));
            }
            _ if c.is_ascii_digit() || c == '-' || c == '.' => {
                let start = i;
                i += 1;
                while i < b.len() && (b[i].is_ascii_digit() || b[i] == '.') {
                    i += 1;
                }
                let n: String = b[start..i].iter().collect();
                if n.parse::<f64>().is_err() {
                    return Err(format!("{n:?} is not a number"));
                }
                out.push(Token::Number(n));
            }
            _ if c.is_ascii_alphabetic() || c == '_' => {
                let start = i;
                while i < b.len() && (b[i].is_ascii_alphanumeric() || b[i] == '_') {
                    i += 1;
                }
                out.push(Token::Word(b[start..i].iter().collect()));
            }
            _ => return Err(format!("unexpected {c:?} in {s:?}")),
        }
    }
    Ok(out)
}

fn literal(t: Option<&Token>) -> Result<Literal, String> {
    match t {
        Some(Token::Text(s)) => Ok(Literal::Text(s.clone())),
        Some(Token::Number(n)) => Ok(Literal::Number(n.clone())),
        Some(Token::Word(w)) if w.eq_ignore_ascii_case("true") => Ok(Literal::Bool(true)),
        Some(Token::Word(w)) if w.eq_ignore_ascii_case("false") => Ok(Literal::Bool(false)),
        Some(other) => Err(format!(
            "expected a literal ('text', a number, true or false), found {other:?}"
        )),
        None => Err("expected a literal, found the end".into()),
    }
}

/// Parses an erase filter. An empty filter is refused: erasing every row is not a filter.
pub fn parse_where(s: &str) -> Result<Vec<Condition>, String> {
    let t = tokens(s)?;
    if t.is_empty() {
        return Err("an empty filter would match every row: name the rows to erase".into());
    }
    let mut out = Vec::new();
    let mut i = 0;
    loop {
        let column = match t.get(i) {
            Some(Token::Word(w))
                if !["and", "in", "true", "false"]
                    .iter()
                    .any(|k| w.eq_ignore_ascii_case(k)) =>
            {
                w.clone()
            }
            other => return Err(format!("expected a column name, found {other:?}")),
        };
        i += 1;
        let values = match t.get(i) {
            Some(Token::Eq) => {
                i += 1;
                let v = literal(t.get(i))?;
                i += 1;
                vec![v]
            }
            Some(Token::Word(w)) if w.eq_ignore_ascii_case("in") => {
                i += 1;
                if t.get(i) != Some(&Token::Open) {
                    return Err(format!("expected ( after {column} IN"));
                }
                i += 1;
                let mut vs = vec![literal(t.get(i))?];
                i += 1;
                loop {
                    match t.get(i) {
                        Some(Token::Comma) => {
                            vs.push(literal(t.get(i + 1))?);
                            i += 2;
                        }
                        Some(Token::Close) => {
                            i += 1;
                            break;
                        }
                        other => {
                            return Err(format!("expected , or ) in the IN list, found {other:?}"))
                        }
                    }
                }
                vs
            }
            other => return Err(format!("expected = or IN after {column}, found {other:?}")),
        };
        out.push(Condition { column, values });
        match t.get(i) {
            None => return Ok(out),
            Some(Token::Word(w)) if w.eq_ignore_ascii_case("and") => i += 1,
            Some(other) => return Err(format!("expected AND or the end, found {other:?}")),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn text(s: &str) -> Literal {
        Literal::Text(s.into())
    }

    #[test]
    fn filters() {
        let cond = |c: &str, v: Vec<Literal>| Condition {
            column: c.into(),
            values: v,
        };
        for (expr, want) in [
            (
                "customer = 'c-1'",
                Ok(vec![cond("customer", vec![text("c-1")])]),
            ),
            (
                "customer IN ('a', 'O''Brien') and order_id = 42",
                Ok(vec![
                    cond("customer", vec![text("a"), text("O'Brien")]),
                    cond("order_id", vec![Literal::Number("42".into())]),
                ]),
            ),
            (
                "gift = TRUE",
                Ok(vec![cond("gift", vec![Literal::Bool(true)])]),
            ),
            (
                "amount in (-1.5)",
                Ok(vec![cond("amount", vec![Literal::Number("-1.5".into())])]),
            ),
            ("", Err("empty filter")),
            ("customer", Err("expected = or IN")),
            ("customer = ", Err("expected a literal")),
            ("customer = 'a' OR x = 1", Err("expected AND")),
            ("customer IN ('a'", Err("expected , or )")),
            ("customer = 'a", Err("unterminated quote")),
            ("and = 1", Err("expected a column name")),
            ("customer > 3", Err("unexpected '>'")),
            ("customer = 1.2.3", Err("not a number")),
        ] {
            match (parse_where(expr), want) {
                (Ok(g), Ok(w)) => assert_eq!(g, w, "{expr}"),
                (Err(e), Err(needle)) => assert!(e.contains(needle), "{expr}: {e}"),
                (g, w) => panic!("{expr}: got {g:?}, want {w:?}"),
            }
        }
    }
}
