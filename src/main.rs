//! The `canrelearn` command line: a thin `main` over one module per subcommand in `cli/`.

mod cli;

fn main() -> std::process::ExitCode {
    cli::main()
}
