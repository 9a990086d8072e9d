//! `mcp-auth token`: get an access token for an MCP server and print it (or keep
//! it in the token cache), for scripts and other clients.

use std::process::ExitCode;

use anyhow::Context as _;

use crate::call::authorized_client;
use crate::cli::TokenArgs;
use crate::output::{json_line, print};

pub(crate) fn run(args: &TokenArgs) -> anyhow::Result<ExitCode> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("starting the async runtime")?;
    runtime.block_on(async {
        let (mut client, mut store) = authorized_client(&args.server, &args.client)?;
        let token = client.obtain_token().await;
        store.save(&client)?;
        let token = token.map_err(|e| anyhow::anyhow!("{e}"))?;
        if args.json {
            json_line(&serde_json::to_value(&token)?)?;
        } else {
            print(&format!("{}\n", token.access_token))?;
        }
        Ok(ExitCode::SUCCESS)
    })
}
