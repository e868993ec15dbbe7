//! The rules for what `exec` and `matrix` steps pass to curl, which runs without a shell.

use super::refs::Problem;

/// Protocols a scenario's curl may use: those of cluster services (HTTP, and raw TCP through
/// telnet or gopher). The in-process backend passes them to curl's `--proto`.
pub const CURL_PROTOCOLS: &[&str] = &["http", "https", "telnet", "gopher"];

/// Arguments that only a shell understands, rejected as whole words.
const SHELL_OPERATORS: &[&str] = &[
    "|", "||", "&&", "&", ";", ">", ">>", "<", "2>", "2>&1", "|&",
];

/// The openings of a shell command substitution, `$(...)` or `` `...` ``, rejected anywhere
/// inside an argument.
const COMMAND_SUBSTITUTIONS: &[&str] = &["$(", "`"];

/// Long options that would escape the protocol limit. `--next` starts another transfer, and
/// curl applies an option only to the transfer it is written in, while the backend appends
/// `--proto` after the step's arguments. `--config` reads options, `next` among them, from a
/// file or standard input. curl 7.x also accepts any unambiguous prefix of a long option
/// (`--nex`).
const ESCAPING_LONG_OPTIONS: &[&str] = &["next", "config"];

/// The short forms of [`ESCAPING_LONG_OPTIONS`]: `-:` for `--next`, `-K` for `--config`.
const ESCAPING_SHORT_OPTIONS: &[(char, &str)] = &[(':', "next"), ('K', "config")];

/// curl's short options that take a value, which is the rest of a bundle (`-o/dev/null`) or
/// the next argument (`-o /dev/null`), from curl 7.88's option table.
// NOTE: a newer curl may add short options that take a value. One missing here only makes the
// check reject a value that happens to contain `:` or `K`.
const SHORT_OPTIONS_WITH_VALUE: &str = "AbcCdDeEFHKmoPQrtTuUwxXyYz";

/// Returns the long name of an option in `argument` that escapes the protocol limit.
///
/// `value_expected` is true when `argument` is the value of the previous short option, such as
/// the header after `-H`. A long option's value is not known to be one, so it is checked too.
fn escaping_option(argument: &str, value_expected: bool) -> Option<&'static str> {
    if value_expected {
        return None;
    }
    if let Some(name) = argument.strip_prefix("--") {
        return ESCAPING_LONG_OPTIONS
            .iter()
            .find(|option| !name.is_empty() && option.starts_with(name))
            .copied();
    }
    let bundle = argument.strip_prefix('-')?;
    for letter in bundle.chars() {
        if let Some((_, option)) = ESCAPING_SHORT_OPTIONS
            .iter()
            .find(|(short, _)| *short == letter)
        {
            return Some(option);
        }
        if SHORT_OPTIONS_WITH_VALUE.contains(letter) {
            return None;
        }
    }
    None
}

/// Checks whether `argument` is a short option, or a bundle of them, whose last letter takes
/// a value from the next argument (`-H`, `-sSo`).
fn takes_next_argument(argument: &str) -> bool {
    let Some(bundle) = argument.strip_prefix('-') else {
        return false;
    };
    if bundle.starts_with('-') {
        return false;
    }
    for (position, letter) in bundle.char_indices() {
        if SHORT_OPTIONS_WITH_VALUE.contains(letter) {
            return position + letter.len_utf8() == bundle.len();
        }
    }
    false
}

/// The kind of step whose curl arguments are checked, which sets the advice in errors.
#[derive(Clone, Copy, Debug)]
pub(crate) enum CurlStep {
    Exec,
    Matrix,
}

impl CurlStep {
    fn name(self) -> &'static str {
        match self {
            Self::Exec => "exec",
            Self::Matrix => "matrix",
        }
    }

    fn operator_hint(self) -> &'static str {
        match self {
            Self::Exec => {
                "remove the shell operator and check the output with `expect.stdout` or \
                 `expect.stderr`"
            }
            Self::Matrix => {
                "remove the shell operator, because a matrix cell checks only the HTTP status \
                 or curl's exit code"
            }
        }
    }

    fn split_hint(self) -> &'static str {
        match self {
            Self::Exec => "write one exec step per transfer",
            Self::Matrix => "write one request per transfer",
        }
    }
}

/// Checks the arguments a step passes to curl, returning the index of the first rejected one
/// and the reason.
pub(crate) fn check_arguments(
    step: CurlStep,
    arguments: &[String],
) -> Result<(), (usize, Problem)> {
    let mut value_expected = false;
    for (index, argument) in arguments.iter().enumerate() {
        if let Some(problem) = check_argument(step, argument, value_expected) {
            return Err((index, problem));
        }
        value_expected = !value_expected && takes_next_argument(argument);
    }
    Ok(())
}

fn check_argument(step: CurlStep, argument: &str, value_expected: bool) -> Option<Problem> {
    let name = step.name();
    if SHELL_OPERATORS.contains(&argument) {
        return Some(Problem {
            message: format!(
                "{name} runs curl without a shell, so `{argument}` would reach curl as an argument"
            ),
            hint: step.operator_hint().to_owned(),
        });
    }
    if COMMAND_SUBSTITUTIONS
        .iter()
        .any(|substitution| argument.contains(substitution))
    {
        return Some(Problem {
            message: format!(
                "{name} runs curl without a shell, so the command substitution in `{argument}` \
                 would reach curl unexpanded"
            ),
            hint: "write the value itself, or a scenario variable such as `${NAME}`".to_owned(),
        });
    }
    let option = escaping_option(argument, value_expected)?;
    let quoted = if argument == format!("--{option}") {
        format!("`{argument}`")
    } else {
        format!("`{argument}` (curl's --{option})")
    };
    match option {
        "next" => Some(Problem {
            message: format!(
                "{quoted} is not supported in {name} steps, because the \
                 transfers before it would run without meshcheck's protocol limit"
            ),
            hint: step.split_hint().to_owned(),
        }),
        _ => Some(Problem {
            message: format!(
                "{quoted} is not supported in {name} steps, because \
                 options read from a config file escape meshcheck's checks"
            ),
            hint: "write the options in the command itself".to_owned(),
        }),
    }
}

/// Checks that a matrix request's URL names one of [`CURL_PROTOCOLS`] as its scheme.
///
/// A URL without a scheme is rejected too: curl would guess the protocol from the host name
/// (`ftp.example` means FTP), and a URL starting with `-` would be read as an option.
pub(crate) fn check_url(url: &str) -> Result<(), Problem> {
    let schemes = scheme_list();
    let Some(scheme) = scheme(url) else {
        return Err(Problem {
            message: format!("URL `{url}` has no scheme"),
            hint: format!("start the URL with {schemes}"),
        });
    };
    if !CURL_PROTOCOLS
        .iter()
        .any(|protocol| protocol.eq_ignore_ascii_case(scheme))
    {
        return Err(Problem {
            message: format!("unsupported scheme `{scheme}` in URL `{url}`"),
            hint: format!("use {schemes}, the only protocols curl may use in a scenario"),
        });
    }
    Ok(())
}

/// Returns the scheme of `url`: a letter, then letters, digits, `+`, `-` or `.`, before `://`.
fn scheme(url: &str) -> Option<&str> {
    let (scheme, rest) = url.split_once(':')?;
    let mut characters = scheme.chars();
    let valid = characters
        .next()
        .is_some_and(|first| first.is_ascii_alphabetic())
        && characters.all(|character| {
            character.is_ascii_alphanumeric() || matches!(character, '+' | '-' | '.')
        });
    (valid && rest.starts_with("//")).then_some(scheme)
}

/// Lists the allowed URL prefixes as `http://, https://, telnet:// or gopher://`.
fn scheme_list() -> String {
    let prefixes: Vec<String> = CURL_PROTOCOLS
        .iter()
        .map(|protocol| format!("{protocol}://"))
        .collect();
    match prefixes.split_last() {
        Some((last, [])) => last.clone(),
        Some((last, rest)) => format!("{} or {last}", rest.join(", ")),
        None => String::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn words(line: &str) -> Vec<String> {
        line.split(' ').map(str::to_owned).collect()
    }

    #[test]
    fn arguments_rejected_by_index() {
        let cases = [
            ("curl http://a | grep x", 2, "`|` would reach curl"),
            ("curl http://a ; curl http://b", 2, "`;` would reach curl"),
            ("curl http://a && true", 2, "`&&` would reach curl"),
            ("curl http://a > out", 2, "`>` would reach curl"),
            (
                "curl -H X-Id:$(id) http://a",
                2,
                "substitution in `X-Id:$(id)`",
            ),
            ("curl http://a/`id`", 1, "substitution in `http://a/`id``"),
            (
                "curl file:///x --next http://a",
                2,
                "`--next` is not supported",
            ),
            ("curl file:///x -: http://a", 2, "`-:` (curl's --next)"),
            (
                "curl file:///x --nex http://a",
                2,
                "`--nex` (curl's --next)",
            ),
            ("curl file:///x -sS: http://a", 2, "`-sS:` (curl's --next)"),
            ("curl -K - http://a", 1, "`-K` (curl's --config)"),
            ("curl -sK cfg http://a", 1, "`-sK` (curl's --config)"),
            ("curl --conf cfg http://a", 1, "`--conf` (curl's --config)"),
            (
                "curl --data x --next http://a",
                3,
                "`--next` is not supported",
            ),
        ];
        for (line, index, message) in cases {
            let (found, problem) = check_arguments(CurlStep::Exec, &words(line)).unwrap_err();
            assert_eq!(found, index, "{line}");
            assert!(
                problem.message.contains(message),
                "{line}: {}",
                problem.message
            );
        }
    }

    #[test]
    fn option_values_are_not_options() {
        for line in [
            "curl -H X-K:-: http://a",
            "curl -H -K http://a",
            "curl -sSo -: http://a",
            "curl -w%{http_code}K: http://a",
            "curl -uK:x http://a",
            "curl --connect-timeout 1 http://a",
        ] {
            assert_eq!(
                check_arguments(CurlStep::Exec, &words(line)),
                Ok(()),
                "{line}"
            );
        }
    }

    #[test]
    fn arguments_with_operator_characters_inside_words_pass() {
        let line = "curl -H Cookie:a=1;b=2 -w %{http_code}>x -u a:b http://a/?x=1&y=2";
        assert_eq!(check_arguments(CurlStep::Matrix, &words(line)), Ok(()));
    }

    #[test]
    fn url_schemes() {
        for url in [
            "http://a",
            "HTTPS://a:443/",
            "telnet://a:9000",
            "gopher://a:70/_x",
        ] {
            assert_eq!(check_url(url), Ok(()), "{url}");
        }
        let rejected = [
            ("file:///etc/passwd", "unsupported scheme `file`"),
            ("ftp://a/", "unsupported scheme `ftp`"),
            ("a:80/", "URL `a:80/` has no scheme"),
            ("--next", "URL `--next` has no scheme"),
            ("a/?to=http://b", "URL `a/?to=http://b` has no scheme"),
        ];
        for (url, message) in rejected {
            let problem = check_url(url).unwrap_err();
            assert!(
                problem.message.contains(message),
                "{url}: {}",
                problem.message
            );
        }
    }
}
