//! Configuration by environment variables, declared once.
//!
//! Each binary lists the variables it reads as a `&[Var]` registry: the
//! name, the default (a value parsed like a set one, or a description of a
//! default computed at start), and one line saying what it is for. It reads
//! them only through an [`Env`] over that registry, so:
//!
//! - a variable read but not declared is a bug caught by the first test that
//!   reads it ([`Env`] panics, naming it);
//! - a default lives in one place, the registry, where `config` prints it
//!   and the README's table is checked against it;
//! - tests fill an [`Env`] from pairs instead of the process environment.
//!
//! Unset and empty are the same: a variable set to whitespace takes its
//! default, as compose files and shells that write `VAR=` expect (except
//! where [`Var::empty_is_a_value`] says the empty value switches something
//! off).

use std::collections::HashMap;
use std::fmt::Write as _;
use std::str::FromStr;

use anyhow::anyhow;

/// One environment variable a binary reads.
#[derive(Debug, Clone, Copy)]
pub struct Var {
    pub name: &'static str,
    pub default: Default,
    /// What it is for, one line (the README's "meaning").
    pub doc: &'static str,
    /// Its value is never printed (keys, tokens, passwords).
    pub secret: bool,
    /// Set to nothing, it means nothing (not its default): for a variable
    /// whose empty value switches something off.
    pub empty_is_a_value: bool,
}

/// What an unset variable means.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Default {
    /// This text, parsed as a set value would be.
    Value(&'static str),
    /// Nothing: the feature it configures is off or the value is empty.
    None,
    /// A default worked out at start (a host name, a key in the database),
    /// described for people.
    Computed(&'static str),
}

impl Var {
    /// A variable whose default is `default`, parsed like a set value.
    pub const fn new(name: &'static str, default: &'static str, doc: &'static str) -> Var {
        Var { name, default: Default::Value(default), doc, secret: false, empty_is_a_value: false }
    }

    /// A variable with no default.
    pub const fn unset(name: &'static str, doc: &'static str) -> Var {
        Var { name, default: Default::None, doc, secret: false, empty_is_a_value: false }
    }

    /// A variable whose default the binary works out at start.
    pub const fn computed(name: &'static str, described: &'static str, doc: &'static str) -> Var {
        Var { name, default: Default::Computed(described), doc, secret: false, empty_is_a_value: false }
    }

    /// The same variable, never printed.
    pub const fn secret(self) -> Var {
        Var { secret: true, ..self }
    }

    /// The same variable, for which an empty value is a value.
    pub const fn empty_is_a_value(self) -> Var {
        Var { empty_is_a_value: true, ..self }
    }

    /// The default as the tables show it.
    pub fn shown_default(&self) -> String {
        match self.default {
            Default::Value("") | Default::None => "none".to_owned(),
            Default::Value(v) => format!("`{v}`"),
            Default::Computed(described) => described.to_owned(),
        }
    }
}

/// Where values come from: the process environment, or a test's table.
type Lookup<'a> = Box<dyn Fn(&str) -> Option<String> + 'a>;

/// The variables of one registry, read through a lookup.
pub struct Env<'a> {
    vars: &'a [Var],
    lookup: Lookup<'a>,
}

impl<'a> Env<'a> {
    /// Reads the process environment. A value that is not UTF-8 counts as
    /// set to something no parser takes.
    pub fn process(vars: &'a [Var]) -> Env<'a> {
        Env::from_fn(vars, |name| std::env::var_os(name).map(|v| v.to_string_lossy().into_owned()))
    }

    /// Reads `lookup` (a test's values, a file's).
    pub fn from_fn(vars: &'a [Var], lookup: impl Fn(&str) -> Option<String> + 'a) -> Env<'a> {
        Env { vars, lookup: Box::new(lookup) }
    }

    /// Reads these pairs only.
    pub fn from_pairs(vars: &'a [Var], pairs: &[(&str, &str)]) -> Env<'a> {
        let map: HashMap<String, String> = pairs.iter().map(|(k, v)| ((*k).to_owned(), (*v).to_owned())).collect();
        Env::from_fn(vars, move |name| map.get(name).cloned())
    }

    /// The registry this reads.
    pub fn vars(&self) -> &'a [Var] {
        self.vars
    }

    fn declared(&self, name: &str) -> &'a Var {
        self.vars.iter().find(|v| v.name == name).unwrap_or_else(|| panic!("{name} is read but not declared"))
    }

    /// The value set, if any (whitespace only counts as unset, unless the
    /// variable takes an empty value).
    pub fn raw(&self, name: &str) -> Option<String> {
        let var = self.declared(name);
        (self.lookup)(name).filter(|v| var.empty_is_a_value || !v.trim().is_empty())
    }

    /// The value set, else the declared default value; `None` for a
    /// variable without one (or with a computed one) that is not set.
    pub fn value(&self, name: &str) -> Option<String> {
        self.raw(name).or_else(|| match self.declared(name).default {
            Default::Value("") | Default::None | Default::Computed(_) => None,
            Default::Value(v) => Some(v.to_owned()),
        })
    }

    /// The value or default, empty when neither.
    pub fn string(&self, name: &str) -> String {
        self.value(name).unwrap_or_default()
    }

    /// The value or default parsed; an error names the variable and value.
    /// Without either, `None`.
    pub fn parse_opt<T: FromStr>(&self, name: &str) -> anyhow::Result<Option<T>>
    where
        T::Err: std::fmt::Display,
    {
        match self.value(name) {
            None => Ok(None),
            Some(v) => v.trim().parse().map(Some).map_err(|e| anyhow!("{name} has invalid value '{v}': {e}")),
        }
    }

    /// The value or default parsed. A variable with neither is an error: a
    /// registry that declares no default must be read with `parse_opt`.
    pub fn parse<T: FromStr>(&self, name: &str) -> anyhow::Result<T>
    where
        T::Err: std::fmt::Display,
    {
        self.parse_opt(name)?.ok_or_else(|| anyhow!("{name} is not set"))
    }

    /// A switch: `on`/`off`, `true`/`false`, `yes`/`no`, `1`/`0`, any case.
    pub fn flag(&self, name: &str) -> anyhow::Result<bool> {
        let value = self.value(name).unwrap_or_default();
        parse_flag(&value).ok_or_else(|| anyhow!("{name} has invalid value '{value}': expected on or off"))
    }
}

/// `on`/`off`, `true`/`false`, `yes`/`no`, `1`/`0`, in any case.
pub fn parse_flag(value: &str) -> Option<bool> {
    match value.trim().to_ascii_lowercase().as_str() {
        "1" | "true" | "yes" | "on" => Some(true),
        "0" | "false" | "no" | "off" => Some(false),
        _ => None,
    }
}

/// The registry as a text table with the values now in effect (secrets
/// shown as `set`), for a binary's `config` command.
pub fn describe(env: &Env<'_>) -> String {
    let width = env.vars().iter().map(|v| v.name.len()).max().unwrap_or(0);
    let mut out = String::new();
    for var in env.vars() {
        let now = match env.raw(var.name) {
            Some(_) if var.secret => "set".to_owned(),
            Some(v) => v,
            None => format!("(default: {})", var.shown_default().replace('`', "")),
        };
        let _ = writeln!(out, "{:width$}  {now}\n{:width$}  {}", var.name, "", var.doc);
    }
    out
}

/// Markdown rows (`| name | used by | default | meaning |`) for several
/// binaries' registries, each variable once, in first-seen order, with
/// every binary that reads it.
pub fn markdown_rows(registries: &[(&str, &[Var])]) -> String {
    let mut order: Vec<(&Var, Vec<&str>)> = Vec::new();
    for (binary, vars) in registries {
        for var in *vars {
            match order.iter_mut().find(|(seen, _)| seen.name == var.name) {
                Some((_, users)) => users.push(binary),
                None => order.push((var, vec![binary])),
            }
        }
    }
    let mut out = String::new();
    for (var, users) in order {
        let _ = writeln!(out, "| `{}` | {} | {} | {} |", var.name, users.join(", "), var.shown_default(), var.doc);
    }
    out
}

/// Markdown rows (`| name | default | meaning |`) of one binary's registry.
pub fn markdown_rows_of(vars: &[Var]) -> String {
    let mut out = String::new();
    for var in vars {
        let _ = writeln!(out, "| `{}` | {} | {} |", var.name, var.shown_default(), var.doc);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    const VARS: &[Var] = &[
        Var::new("X_PORT", "6250", "a port"),
        Var::unset("X_TOKEN", "a token").secret(),
        Var::computed("X_NODE", "host name", "a node name"),
        Var::new("X_TLS", "on", "serve TLS"),
        Var::new("X_URL", "http://a", "where to").empty_is_a_value(),
    ];

    #[test]
    fn defaults_apply_when_unset_or_blank() {
        let env = Env::from_pairs(VARS, &[("X_NODE", "  ")]);
        assert_eq!(env.parse::<u16>("X_PORT").unwrap(), 6250);
        assert_eq!(env.raw("X_NODE"), None);
        assert_eq!(env.value("X_TOKEN"), None);
        assert!(env.flag("X_TLS").unwrap());
        assert!(env.parse::<u16>("X_TOKEN").unwrap_err().to_string().contains("X_TOKEN is not set"));
        assert_eq!(env.string("X_URL"), "http://a");
        assert_eq!(Env::from_pairs(VARS, &[("X_URL", "")]).value("X_URL").as_deref(), Some(""));
    }

    #[test]
    fn set_values_are_parsed_and_errors_name_the_variable() {
        let env = Env::from_pairs(VARS, &[("X_PORT", "70000"), ("X_TLS", "OFF")]);
        let err = env.parse::<u16>("X_PORT").unwrap_err().to_string();
        assert!(err.starts_with("X_PORT has invalid value '70000'"), "{err}");
        assert!(!env.flag("X_TLS").unwrap());
        let env = Env::from_pairs(VARS, &[("X_TLS", "maybe")]);
        assert!(env.flag("X_TLS").unwrap_err().to_string().contains("X_TLS"));
    }

    #[test]
    #[should_panic(expected = "X_OTHER is read but not declared")]
    fn an_undeclared_variable_is_a_bug() {
        Env::from_pairs(VARS, &[]).raw("X_OTHER");
    }

    #[test]
    fn tables_show_defaults_and_hide_secrets() {
        let env = Env::from_pairs(VARS, &[("X_TOKEN", "hunter2-hunter2")]);
        let text = describe(&env);
        assert!(text.contains("X_TOKEN") && text.contains("set") && !text.contains("hunter2"), "{text}");
        assert!(text.contains("(default: 6250)"), "{text}");
        let other: &[Var] = &[Var::new("X_PORT", "6250", "a port"), Var::unset("Y", "why")];
        let rows = markdown_rows(&[("a", VARS), ("b", other)]);
        assert!(rows.starts_with("| `X_PORT` | a, b | `6250` | a port |\n"), "{rows}");
        assert!(rows.contains("| `X_NODE` | a | host name | a node name |"), "{rows}");
        assert!(rows.contains("| `Y` | b | none | why |"), "{rows}");
        assert_eq!(markdown_rows_of(&VARS[..1]), "| `X_PORT` | `6250` | a port |\n");
    }
}
