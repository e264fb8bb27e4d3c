//! `wsgate --generate man`: the man page (roff, section 1), its options and commands
//! from the flag table, so it says what `--help` says. The prose around them (what
//! wsgate is, its files, exit status and security) is written here once.

use super::flags::{ENV, FLAGS, Flag, Kind, Place, Section, TOKEN_COMMANDS, USAGES};

const DESCRIPTION: &[&str] = &[
    "wsgate puts a token gate in front of a local tool's WebSocket. It listens on \
     loopback, authenticates every WebSocket upgrade before a single byte reaches the \
     tool, and relays each authenticated connection to a backend: the built-in echo \
     (--echo), a program started once per connection and spoken to over its stdin and \
     stdout (-- COMMAND), or a server that already runs (--upstream URL: a WebSocket \
     server, a TCP service or a Unix socket).",
    "Clients authenticate in one of four modes (--auth): a token in the query \
     (query-token, the default), a bearer token in the Authorization header or, for \
     browsers, in a subprotocol entry (bearer), an HS256 JWT (jwt), or a managed token \
     from the token store (store), which can have scopes and an expiry and can be \
     revoked while its sessions run. With no token given, a 256-bit token is generated \
     at startup.",
    "Requests also pass Host and Origin checks against DNS rebinding and cross-site \
     pages. Every refusal is answered with one status and one reason, and logged.",
    "The connect URL, with its token, is shown in a banner when stderr is a terminal \
     and written to the runtime file; 'wsgate list' prints it.",
];

const FILES: &[(&str, &str)] = &[
    (
        "$WSGATE_RUNTIME_DIR/<pid>.instance",
        "Each running instance's runtime file (mode 0600): its pid, address, mode and \
         connect URL with the token, and with --pairing the current pairing code. The \
         directory is $WSGATE_RUNTIME_DIR, else $XDG_RUNTIME_DIR/wsgate, else \
         ${TMPDIR:-/tmp}/wsgate-<uid>; it must be private to the user (mode 0700), and \
         one that is not is refused.",
    ),
    (
        "$WSGATE_CONFIG_DIR/tokens",
        "The token store of --auth store and 'wsgate token' (mode 0600; it holds only \
         each token's SHA-256). The directory is $WSGATE_CONFIG_DIR, else \
         $XDG_CONFIG_HOME/wsgate, else ~/.config/wsgate. Writes are atomic, under \
         tokens.lock.",
    ),
    (
        "--config FILE, $WSGATE_CONFIG_FILE",
        "A config file: the daemon's options, one a line ('--listen 127.0.0.1:7331' or \
         '--listen=127.0.0.1:7331', a switch alone), blank lines and lines starting \
         with '#' skipped, and '-- COMMAND ARGS' allowed as the last line (split into \
         words like a shell would, without expansion). It is read before the command \
         line: an option given on the command line replaces the file's, a repeatable \
         one adds to it, and a backend given on the command line (--echo, --upstream \
         or -- COMMAND) replaces the file's backend and its options. --auth-token is \
         refused in a file (config files get shared): use --auth-token-file. An unknown \
         or malformed line exits 2, naming the file and the line.",
    ),
];

const EXIT: &[(&str, &str)] = &[
    (
        "0",
        "Success; the daemon exits 0 after SIGINT or SIGTERM, once its sessions are \
         closed (at most 5 s).",
    ),
    (
        "1",
        "A failure: the daemon could not start (the address is in use, a file cannot be \
         read), or a command failed.",
    ),
    (
        "2",
        "A usage error: an unknown option, a bad value, options that do not go \
         together, or a bad config file line.",
    ),
];

const SECURITY: &[&str] = &[
    "Nothing reaches the backend before the request is authenticated: the head is read \
     (8 KiB, 10 s), parsed strictly, its Host and Origin checked, its credential \
     compared in constant time, and only then is the backend started or connected to \
     and 101 sent.",
    "The token and every credential a client presents never appear in a log line, an \
     error body, the health output, a program's environment or a debug print. The \
     connect URL with the token is for the operator: the terminal banner and the \
     runtime file, never the log. Prefer --auth-token-file or WSGATE_AUTH_TOKEN to \
     --auth-token, which other users can see in the process list.",
    "--no-token-check accepts connections without a credential and is refused on a \
     non-loopback address. Listening beyond loopback lets anyone who can reach the \
     address try tokens; use a long token or a managed one.",
    "A page that can reach a program backend can run it: --allow-origin and --console \
     give that to pages, so give them only to origins you trust.",
];

const EXAMPLES: &[(&str, &str)] = &[
    (
        "wsgate --echo",
        "Gate the built-in echo; the connect URL is printed.",
    ),
    (
        "wsgate -- python3 -u repl.py",
        "One process per connection: one line in is one message out, and back.",
    ),
    (
        "wsgate --auth bearer --auth-token-file ~/.config/wsgate/token --upstream ws://127.0.0.1:9222",
        "Gate an existing WebSocket server with a bearer token kept in a file.",
    ),
    (
        "wsgate token create --name laptop --scope read,write --expires 30d",
        "Create a managed token for --auth store; it is printed once.",
    ),
    (
        "wsgate --config ~/.config/wsgate/config",
        "Run with the options in a file, as a service would.",
    ),
    (
        "WSGATE_RUNTIME_DIR=/opt/homebrew/var/run/wsgate wsgate list",
        "Print the connect URL of the instance a service started.",
    ),
];

/// Text escaped for roff: backslashes, hyphens (so options copy as they are written)
/// and a leading `.` or `'`, which would start a request.
fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len() + 8);
    if text.starts_with(['.', '\'']) {
        out.push_str("\\&");
    }
    for c in text.chars() {
        match c {
            '\\' => out.push_str("\\e"),
            '-' => out.push_str("\\-"),
            c => out.push(c),
        }
    }
    out
}

/// An option's name and value as a tagged paragraph's tag.
fn tag(flag: &Flag) -> String {
    let mut names = Vec::new();
    if let Some(short) = flag.short {
        names.push(format!("\\fB\\-{short}\\fR"));
    }
    names.push(format!("\\fB{}\\fR", escape(flag.long)));
    if let Some(alias) = flag.alias {
        names.push(format!("\\fB{}\\fR", escape(alias)));
    }
    let mut tag = names.join(", ");
    if let Some(value) = flag.value {
        tag.push_str(&format!(" \\fI{}\\fR", escape(value)));
    }
    tag
}

fn option(out: &mut String, flag: &Flag) {
    out.push_str(".TP\n");
    out.push_str(&tag(flag));
    out.push('\n');
    let mut chars = flag.help.chars();
    let mut text: String = chars
        .next()
        .map(|c| c.to_ascii_uppercase())
        .into_iter()
        .collect();
    text.push_str(chars.as_str());
    if !text.ends_with('.') {
        text.push('.');
    }
    out.push_str(&escape(&text));
    out.push('\n');
    if flag.repeatable {
        out.push_str("May be given more than once.\n");
    }
    if let Some(default) = flag.default {
        out.push_str(&format!("Default: \\fB{}\\fR.\n", escape(default)));
    }
    if let Kind::Choices(choices) = flag.kind {
        out.push_str(".RS\n");
        for (word, meaning) in choices {
            out.push_str(&format!(
                ".TP\n\\fB{}\\fR\n{}\n",
                escape(word),
                escape(meaning)
            ));
        }
        out.push_str(".RE\n");
    }
}

fn paragraphs(out: &mut String, texts: &[&str]) {
    for (i, text) in texts.iter().enumerate() {
        if i > 0 {
            out.push_str(".PP\n");
        }
        out.push_str(&escape(text));
        out.push('\n');
    }
}

fn tagged(out: &mut String, items: &[(&str, &str)], bold: bool) {
    for (left, right) in items {
        let left = match bold {
            true => format!("\\fB{}\\fR", escape(left)),
            false => escape(left),
        };
        out.push_str(&format!(".TP\n{left}\n{}\n", escape(right)));
    }
}

/// The man page.
pub fn page() -> String {
    let mut out = format!(
        ".\\\" Generated by 'wsgate --generate man'; edit src/cli/man.rs and the flag table.\n\
         .TH WSGATE 1 \"\" \"wsgate {}\" \"User Commands\"\n\
         .SH NAME\nwsgate \\- a token gate in front of a local tool's WebSocket\n\
         .SH SYNOPSIS\n",
        crate::VERSION
    );
    for usage in USAGES {
        let synopsis = usage
            .synopsis
            .strip_prefix("wsgate")
            .unwrap_or(usage.synopsis);
        out.push_str(&format!(".B wsgate\n{}\n.br\n", escape(synopsis.trim())));
    }
    out.push_str(".SH DESCRIPTION\n");
    paragraphs(&mut out, DESCRIPTION);
    out.push_str(".SH OPTIONS\n");
    for section in Section::ALL {
        out.push_str(&format!(".SS {}\n", escape(section.title())));
        for flag in FLAGS.iter().filter(|f| f.place == Place::Serve(section)) {
            option(&mut out, flag);
        }
    }
    out.push_str(".SH COMMANDS\n");
    let commands = [
        (
            "wsgate list",
            "Print the connect URLs of your running instances (from their runtime files), and remove the files of instances that are gone.",
        ),
        (
            "wsgate pair",
            "Print the pairing code and link of a running instance started with --auth store --pairing.",
        ),
    ];
    tagged(&mut out, &commands, true);
    for (word, place, help) in TOKEN_COMMANDS {
        let usage = USAGES
            .iter()
            .find(|u| u.synopsis.starts_with(&format!("wsgate token {word}")))
            .map_or(*word, |u| u.synopsis);
        out.push_str(&format!(".TP\n\\fB{}\\fR\n", escape(usage)));
        let mut text = format!("{}{}.", help[..1].to_uppercase(), &help[1..]);
        if *word == "create" {
            text.push_str(
                " The token is printed on stdout, once; the store keeps only its SHA-256.",
            );
        }
        out.push_str(&escape(&text));
        out.push('\n');
        if let Some(place) = place {
            let flags: Vec<&Flag> = FLAGS.iter().filter(|f| f.place == *place).collect();
            if !flags.is_empty() {
                out.push_str(".RS\n");
                for flag in flags {
                    option(&mut out, flag);
                }
                out.push_str(".RE\n");
            }
        }
    }
    out.push_str(".SH ENVIRONMENT\n");
    let env: Vec<(&str, &str)> = ENV.iter().map(|v| (v.name, v.help)).collect();
    tagged(&mut out, &env, true);
    out.push_str(".SH FILES\n");
    tagged(&mut out, FILES, true);
    out.push_str(".SH EXIT STATUS\n");
    tagged(&mut out, EXIT, false);
    out.push_str(".SH SECURITY\n");
    paragraphs(&mut out, SECURITY);
    out.push_str(".SH EXAMPLES\n");
    for (command, what) in EXAMPLES {
        out.push_str(&format!(
            ".PP\n{}\n.PP\n.RS\n.nf\n{}\n.fi\n.RE\n",
            escape(what),
            escape(command)
        ));
    }
    out.push_str(
        ".SH SEE ALSO\nThe README in the source distribution, for clients in several \
         languages, the log events and the benchmarks.\n",
    );
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_flag_and_variable_is_in_the_page() {
        let page = page();
        for flag in FLAGS {
            assert!(page.contains(&escape(flag.long)), "{}", flag.long);
        }
        for var in ENV {
            assert!(page.contains(var.name), "{}", var.name);
        }
        // Every line that starts with a dot is a request the page means to make.
        for line in page.lines().filter(|l| l.starts_with('.')) {
            let request = line[1..].split(' ').next().unwrap_or_default();
            assert!(
                [
                    "\\\"", "TH", "SH", "SS", "B", "br", "PP", "TP", "RS", "RE", "nf", "fi"
                ]
                .contains(&request),
                "{line}"
            );
        }
    }

    #[test]
    fn escapes() {
        assert_eq!(escape(".x -y \\z"), "\\&.x \\-y \\ez");
        assert_eq!(escape("'q"), "\\&'q");
    }
}
