//! `cutty`: the reference server and admin CLI. See the crate README.
use std::process::ExitCode;

use clap::Parser as _;
use cutty_examples::cli::{Cli, Command};
use cutty_examples::config::Config;

fn main() -> ExitCode {
    let cli = Cli::parse();
    let config = Config::from_process_env();
    if let Command::Serve { bind } = cli.command {
        return cutty_examples::server::main(config, bind);
    }
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("error: cannot start the async runtime: {e}");
            return ExitCode::from(2);
        }
    };
    runtime.block_on(cutty_examples::cli::run(cli, config))
}
