//! One module per command.

mod collab;
mod compute;
mod demo;
mod dht;
mod get;
mod info;
mod search;
mod share;
mod sim;

use std::path::Path;

use crate::cli::{Cli, Commands};

/// Runs the parsed command line.
pub async fn run(cli: Cli) -> anyhow::Result<()> {
    let home = weft_node::home::resolve(cli.home.as_deref())?;
    match cli.command {
        Commands::Up(args) => {
            weft_node::run(weft_node::UpOptions {
                home,
                listen: args.listen,
                bootstrap: args.bootstrap,
                api: args.api,
                no_mdns: args.no_mdns,
                relay_server: args.relay_server,
                role: args.role,
                directory: args.directory,
                worker: weft_node::compute::WorkerOptions {
                    enabled: args.worker,
                    cores: args.worker_cores.map(usize::from),
                },
            })
            .await
        }
        Commands::Id(a) => info::id(&home, a.json).await,
        Commands::Peers(a) => info::peers(&home, a.json).await,
        Commands::Demo(a) => demo::run(a).await,
        Commands::Sim(a) => sim::run(*a).await,
        Commands::Dht(c) => dht::run(&home, c).await,
        Commands::Share(a) => share::share(&home, a).await,
        Commands::Unshare(a) => share::unshare(&home, a).await,
        Commands::Shared(a) => share::shared(&home, a).await,
        Commands::Search(a) => search::run(&home, a).await,
        Commands::Get(a) => get::run(&home, a).await,
        Commands::Compute(c) => compute::run(&home, c).await,
        Commands::Contact(c) => collab::contact(&home, c).await,
        Commands::Contacts(a) => collab::contacts(&home, a.json).await,
        Commands::Msg(c) => collab::msg(&home, c).await,
    }
}

/// The client for the node on `home`.
fn client(home: &Path) -> anyhow::Result<weft_api::client::Client> {
    Ok(weft_api::client::Client::for_home(home)?)
}
