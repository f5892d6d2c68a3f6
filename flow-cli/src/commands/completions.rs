//! `flow completions bash|zsh|fish` and `flow man`: the shell completion scripts and the
//! manual page, generated from the command line's definition (clap_complete, clap_mangen),
//! on stdout.

use clap::CommandFactory;
use clap_complete::Shell;

use crate::cli::{Cli, CompletionShell, CompletionsArgs};
use crate::commands::print_stdout;
use crate::error::CliError;

/// Prints the completion script for the shell.
pub fn completions(args: &CompletionsArgs) -> Result<u8, CliError> {
    let shell = match args.shell {
        CompletionShell::Bash => Shell::Bash,
        CompletionShell::Zsh => Shell::Zsh,
        CompletionShell::Fish => Shell::Fish,
    };
    let mut script = Vec::new();
    clap_complete::generate(shell, &mut Cli::command(), "flow", &mut script);
    print_stdout(&String::from_utf8_lossy(&script))?;
    Ok(0)
}

/// Prints the manual page: `flow(1)`, then a section per subcommand (synopsis, description,
/// options, examples).
pub fn man() -> Result<u8, CliError> {
    let command = Cli::command();
    let mut page = Vec::new();
    let render = |page: &mut Vec<u8>| -> std::io::Result<()> {
        clap_mangen::Man::new(command.clone()).render(page)?;
        // Then each subcommand: what it does, its arguments and its examples.
        for sub in command.get_subcommands() {
            let name = sub.get_name();
            std::io::Write::write_all(
                page,
                format!(".SH \"FLOW {}\"\n", name.to_uppercase()).as_bytes(),
            )?;
            let sub = sub.clone().bin_name(format!("flow {name}"));
            let man = clap_mangen::Man::new(sub);
            man.render_synopsis_section(page)?;
            man.render_description_section(page)?;
            man.render_options_section(page)?;
            man.render_extra_section(page)?;
        }
        Ok(())
    };
    render(&mut page).map_err(CliError::Output)?;
    print_stdout(&String::from_utf8_lossy(&page))?;
    Ok(0)
}
