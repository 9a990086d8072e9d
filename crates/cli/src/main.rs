//! `mcp-auth`: the one binary. It holds no protocol logic, only argument parsing,
//! wiring and presentation; the protocol lives in the library crates.

#![forbid(unsafe_code)]

use std::process::ExitCode;

use clap::Parser as _;

/// The process's allocator: mimalloc in its secure mode (guard pages around its
/// metadata, encoded free lists, double-free detection; the `secure` feature in the
/// workspace's Cargo.toml), not the C library's. The gateway, its upstream client and
/// the authorization server allocate for every request (hyper, reqwest, serde, the
/// checks), from many runtime threads at once: in `mcp-auth bench gateway` the process
/// (load generator, proxy, upstream) used 250 µs of CPU per request through the proxy
/// with glibc's allocator and 176–180 µs with this one, in the same hour. The price is
/// about 10 MiB more resident memory per process (BENCHMARKS.md, "The allocator";
/// docs/deployment.md).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

mod authorization_server;
mod bench;
mod bridge;
mod call;
mod cli;
mod conformance;
mod demo_idp;
mod demo_server;
mod demo_workload;
mod gateway;
mod keygen;
mod login;
mod observability;
mod output;
mod sig;
mod stack;
mod token;
mod up;

fn main() -> ExitCode {
    let args = cli::Cli::parse();
    match run(args) {
        Ok(code) => code,
        Err(err) => {
            // Diagnostics go to stderr; a broken pipe is not an error worth a message.
            if err
                .downcast_ref::<std::io::Error>()
                .is_some_and(|e| e.kind() == std::io::ErrorKind::BrokenPipe)
            {
                return ExitCode::SUCCESS;
            }
            eprintln!("error: {err:#}");
            ExitCode::from(2)
        }
    }
}

fn run(args: cli::Cli) -> anyhow::Result<ExitCode> {
    match args.command {
        cli::Command::Sig(cmd) => sig::run(*cmd),
        cli::Command::Keygen(cmd) => keygen::run(&cmd),
        cli::Command::As(cmd) => authorization_server::run(*cmd),
        cli::Command::Gateway(cmd) => gateway::run(&cmd),
        cli::Command::DemoServer(cmd) => demo_server::run(&cmd),
        cli::Command::DemoWorkloadToken(cmd) => demo_workload::run(&cmd),
        cli::Command::Up(cmd) => up::run(&cmd),
        cli::Command::Call(cmd) => call::run(&cmd),
        cli::Command::Bridge(cmd) => bridge::run(&cmd),
        cli::Command::Token(cmd) => token::run(&cmd),
        cli::Command::Login(cmd) => login::run(&cmd),
        cli::Command::Conformance(cmd) => conformance::run(&cmd),
        cli::Command::Bench(cli::BenchCommand::Gateway(cmd)) => bench::run(&cmd),
        cli::Command::Bench(cli::BenchCommand::Soak(cmd)) => bench::soak::run(&cmd),
    }
}
