//! The parser of template actions: turns a token list into an [`Expr`] tree,
//! Go's way — `name args…` is a call, `a | f b` passes `a` as `f`'s last
//! argument, parentheses nest pipelines. Knows no function names (the translator
//! checks them) and emits nothing.

use super::lex::{Fault, Tok, TokKind, fault};

#[derive(Debug, Clone)]
pub(super) enum Expr {
    Str(String),
    Num(String),
    Bool(bool),
    Null,
    Ref(String),
    Call {
        name: String,
        args: Vec<Expr>,
        at: usize,
    },
}

/// Parentheses nested deeper than this are an error: the parser, translator
/// and renderer recurse once per level, and a stack overflow would abort.
const MAX_NESTING: usize = 64;

/// Refuses parentheses nested deeper than [`MAX_NESTING`], before any recursion.
fn check_nesting(tokens: &[Tok]) -> Result<(), Fault> {
    let mut depth = 0usize;
    for t in tokens {
        match t.kind {
            TokKind::LParen => {
                depth += 1;
                if depth > MAX_NESTING {
                    return Err(fault(
                        t.at,
                        format!("parentheses nested more than {MAX_NESTING} deep"),
                    ));
                }
            }
            TokKind::RParen => depth = depth.saturating_sub(1),
            _ => {}
        }
    }
    Ok(())
}

/// Parses a whole Go pipeline: `cmd | cmd …`; the value of each command is
/// passed as the last argument of the next.
pub(super) fn parse_pipeline_all(tokens: &[Tok], at: usize) -> Result<Expr, Fault> {
    check_nesting(tokens)?;
    let mut pos = 0;
    let expr = parse_pipeline(tokens, &mut pos, at)?;
    match tokens.get(pos) {
        None => Ok(expr),
        Some(t) => Err(fault(t.at, "unexpected ) in action")),
    }
}

/// Parses a single command (a block helper's line): `name args…`.
pub(super) fn parse_command_all(tokens: &[Tok], at: usize) -> Result<Expr, Fault> {
    check_nesting(tokens)?;
    let mut pos = 0;
    let expr = parse_command(tokens, &mut pos, at)?;
    match tokens.get(pos) {
        None => Ok(expr),
        Some(t) if t.kind == TokKind::Pipe => Err(fault(t.at, "pipes (|) are not supported here")),
        Some(t) => Err(fault(t.at, "unexpected token in action")),
    }
}

fn parse_pipeline(tokens: &[Tok], pos: &mut usize, at: usize) -> Result<Expr, Fault> {
    let mut expr = parse_command(tokens, pos, at)?;
    while let Some(tok) = tokens.get(*pos) {
        if tok.kind != TokKind::Pipe {
            break;
        }
        *pos += 1;
        let next = parse_command(tokens, pos, tok.at)?;
        expr = match next {
            Expr::Call { name, mut args, at } => {
                args.push(expr);
                Expr::Call { name, args, at }
            }
            _ => return Err(fault(tok.at, "a pipe (|) must be followed by a function")),
        };
    }
    Ok(expr)
}

fn parse_command(tokens: &[Tok], pos: &mut usize, at: usize) -> Result<Expr, Fault> {
    let Some(first) = tokens.get(*pos) else {
        return Err(fault(at, "missing function or value"));
    };
    if let TokKind::Ident(name) = &first.kind {
        *pos += 1;
        let mut args = Vec::new();
        while let Some(tok) = tokens.get(*pos) {
            if matches!(tok.kind, TokKind::Pipe | TokKind::RParen) {
                break;
            }
            args.push(parse_operand(tokens, pos)?);
        }
        return Ok(Expr::Call {
            name: name.clone(),
            args,
            at: first.at,
        });
    }
    let operand = parse_operand(tokens, pos)?;
    match tokens.get(*pos) {
        Some(tok) if !matches!(tok.kind, TokKind::Pipe | TokKind::RParen) => {
            Err(fault(tok.at, "only a function can take arguments"))
        }
        _ => Ok(operand),
    }
}

fn parse_operand(tokens: &[Tok], pos: &mut usize) -> Result<Expr, Fault> {
    let Some(tok) = tokens.get(*pos) else {
        return Err(fault(0, "missing operand"));
    };
    *pos += 1;
    Ok(match &tok.kind {
        TokKind::Ident(name) => Expr::Call {
            name: name.clone(),
            args: Vec::new(),
            at: tok.at,
        },
        TokKind::Str(s) => Expr::Str(s.clone()),
        TokKind::Num(n) => Expr::Num(n.clone()),
        TokKind::Bool(b) => Expr::Bool(*b),
        TokKind::Null => Expr::Null,
        TokKind::Ref(r) => Expr::Ref(r.clone()),
        TokKind::LParen => {
            let expr = parse_pipeline(tokens, pos, tok.at)?;
            match tokens.get(*pos) {
                Some(t) if t.kind == TokKind::RParen => {
                    *pos += 1;
                    expr
                }
                _ => return Err(fault(tok.at, "unclosed parenthesis")),
            }
        }
        TokKind::RParen => return Err(fault(tok.at, "unexpected )")),
        TokKind::Pipe => return Err(fault(tok.at, "unexpected |")),
    })
}
