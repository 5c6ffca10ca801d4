//! Settings from the environment, as deployments write them.
//!
//! Helm charts and compose files often set a variable to an empty string when a value is left
//! out, and spell booleans `0`/`1`, `yes`/`no` or `on`/`off`. Both are accepted: an empty
//! variable counts as unset, and boolean flags take every usual spelling. A variable with the
//! binary's own prefix that no flag reads is a typo more often than not, so it is reported.

use clap::builder::{BoolishValueParser, TypedValueParser};

/// The value parser for boolean flags: `true`/`false`, `1`/`0`, `yes`/`no`, `on`/`off`,
/// `y`/`n`, `t`/`f`, in any case.
pub fn flag() -> impl TypedValueParser<Value = bool> {
    BoolishValueParser::new()
}

/// Every environment variable that a flag of `command` or of its subcommands reads.
pub fn known(command: &clap::Command) -> Vec<String> {
    let mut out: Vec<String> = command
        .get_arguments()
        .filter_map(|a| a.get_env())
        .map(|e| e.to_string_lossy().into_owned())
        .collect();
    for sub in command.get_subcommands() {
        out.extend(known(sub));
    }
    out.sort();
    out.dedup();
    out
}

/// Prepares the environment before the command line is parsed: removes the variables a flag
/// reads whose value is empty (so they count as unset), and returns the names of set variables
/// that start with one of `prefixes` but that no flag reads. Call it before any thread starts.
pub fn prepare(command: &clap::Command, prefixes: &[&str]) -> Vec<String> {
    let known = known(command);
    let mut unknown = Vec::new();
    for (name, value) in std::env::vars_os() {
        let Some(name) = name.to_str() else { continue };
        if known.binary_search_by(|k| k.as_str().cmp(name)).is_ok() {
            if value.is_empty() {
                // Single-threaded here: nothing else reads the environment yet.
                std::env::remove_var(name);
            }
        } else if prefixes.iter().any(|p| name.starts_with(p)) {
            unknown.push(name.to_owned());
        }
    }
    unknown.sort();
    unknown
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    #[derive(Parser)]
    struct Args {
        #[arg(long, env = "ADIC_ENV_PREP_OFF", value_parser = flag())]
        off: bool,
        #[arg(long, env = "ADIC_ENV_PREP_COUNT", default_value_t = 7)]
        count: usize,
    }

    #[derive(Parser)]
    struct Flag {
        #[arg(long, env = "ADIC_ENV_TEST_FLAG", value_parser = flag())]
        on: bool,
    }

    #[test]
    fn booleans_take_the_usual_spellings() {
        for (text, want) in [
            ("0", false),
            ("no", false),
            ("Off", false),
            ("false", false),
        ]
        .into_iter()
        .chain([("1", true), ("yes", true), ("ON", true), ("true", true)])
        {
            std::env::set_var("ADIC_ENV_TEST_FLAG", text);
            assert_eq!(Flag::try_parse_from(["x"]).unwrap().on, want, "{text}");
            // The flag itself still needs no value.
            assert!(Flag::try_parse_from(["x", "--on"]).unwrap().on);
        }
        std::env::set_var("ADIC_ENV_TEST_FLAG", "maybe");
        let err = Flag::try_parse_from(["x"]).err().unwrap();
        assert!(err.to_string().contains("maybe"), "{err}");
        std::env::remove_var("ADIC_ENV_TEST_FLAG");
        assert!(!Flag::try_parse_from(["x"]).unwrap().on);
    }

    #[test]
    fn empty_variables_count_as_unset_and_unknown_ones_are_named() {
        use clap::CommandFactory;
        std::env::set_var("ADIC_ENV_PREP_COUNT", "");
        std::env::set_var("ADIC_ENV_PREP_OFF", "no");
        std::env::set_var("ADIC_ENV_PREP_TYPO", "1");
        let unknown = prepare(&Args::command(), &["ADIC_ENV_PREP_"]);
        assert_eq!(unknown, vec!["ADIC_ENV_PREP_TYPO".to_owned()]);
        let parsed = Args::try_parse_from(["x"]).unwrap();
        assert_eq!(parsed.count, 7);
        assert!(!parsed.off);
        std::env::remove_var("ADIC_ENV_PREP_OFF");
        std::env::remove_var("ADIC_ENV_PREP_TYPO");
    }
}
