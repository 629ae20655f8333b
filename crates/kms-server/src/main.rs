//! `trent`: run a node, create a region root key, or run the local cluster of `make run`.

use clap::{Parser, Subcommand};
use std::path::PathBuf;

#[derive(Parser)]
#[command(
    name = "trent",
    about = "A self-hosted key management service speaking the AWS KMS API"
)]
struct Cli {
    #[command(subcommand)]
    command: Commands,
}

#[derive(Subcommand)]
enum Commands {
    /// Run one node from its config file.
    Serve {
        /// The node's TOML config.
        #[arg(long)]
        config: PathBuf,
    },
    /// Create a CA and one certificate per region for the inter-region link (local clusters).
    Pki {
        /// Where to write ca.pem and <region>.pem/.key.
        #[arg(long)]
        dir: PathBuf,
        /// Comma-separated region names.
        #[arg(long)]
        regions: String,
    },
    /// Create a region root key file (32 random bytes, mode 0600).
    RootKey {
        /// Where to write it; fails if it exists.
        #[arg(long)]
        create: PathBuf,
    },
    /// Run a local cluster until Ctrl-C: the regions of TRENT_REGIONS (default
    /// us-east-1,us-west-2) with TRENT_NODES_PER_REGION nodes each (default 3), or the node
    /// configs under CLUSTER_DIR/<region>/.
    Up {
        /// Directory of hand-written per-region node configs (instead of the generated ones).
        #[arg(long)]
        cluster_dir: Option<PathBuf>,
        /// Where cluster.json and the node logs go.
        #[arg(long, default_value = "data")]
        data_dir: PathBuf,
    },
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info,openraft=warn")),
        )
        .with_writer(std::io::stderr)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .init();
    match Cli::parse().command {
        Commands::Serve { config } => {
            kms_server::node::serve(kms_server::config::NodeConfig::load(&config)?).await
        }
        Commands::RootKey { create } => {
            kms_crypto::RootKey::create_file(&create)?;
            println!("created {}", create.display());
            Ok(())
        }
        Commands::Up {
            cluster_dir,
            data_dir,
        } => kms_server::local::up(cluster_dir.as_deref(), &data_dir).await,
        Commands::Pki { dir, regions } => {
            let regions: Vec<String> = regions.split(',').map(str::to_string).collect();
            kms_link::pki::generate_local_pki(&dir, &regions)?;
            println!(
                "inter-region certificates for {} in {}",
                regions.join(", "),
                dir.display()
            );
            Ok(())
        }
    }
}
