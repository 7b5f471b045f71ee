//! `hubctl catalog check|diff|render`.

use std::path::PathBuf;

use clap::{Subcommand, ValueEnum};
use hub_policy::{Catalog, CatalogError, diff, register};

use crate::Failure;

#[derive(Subcommand)]
pub(crate) enum CatalogCommand {
    /// Validate a catalog with the rules the hub applies at startup; exits 1
    /// naming every broken rule.
    Check {
        /// The catalog file.
        file: PathBuf,
    },
    /// Per recipient, which fields and categories start or stop flowing.
    /// Exits 1 when any recipient would get more (needs review), 0 when not,
    /// 2 when a catalog is invalid.
    Diff {
        /// The catalog as it is.
        old: PathBuf,
        /// The catalog as proposed.
        new: PathBuf,
    },
    /// Render the processing register generated from the catalog.
    Render {
        /// The catalog file.
        #[arg(long, env = "HUB_CATALOG", default_value = "policy/catalog.toml")]
        catalog: PathBuf,
        /// Output format.
        #[arg(long, value_enum, default_value_t = Format::Markdown)]
        format: Format,
    },
}

#[derive(Clone, Copy, ValueEnum)]
pub(crate) enum Format {
    Markdown,
    Html,
}

fn load(path: &std::path::Path, invalid_code: u8) -> Result<Catalog, Failure> {
    Catalog::load(path).map_err(|e| match e {
        CatalogError::Invalid(_) | CatalogError::Syntax(_) => {
            Failure::new(invalid_code, format!("{}: {e}", path.display()))
        }
        CatalogError::Read { .. } => Failure::new(invalid_code, e.to_string()),
    })
}

pub(crate) fn run(command: CatalogCommand) -> Result<(), Failure> {
    match command {
        CatalogCommand::Check { file } => {
            let catalog = load(&file, 1)?;
            println!(
                "{}: valid ({} message types, {} routes, version {})",
                file.display(),
                catalog.message_types().count(),
                catalog.routes().len(),
                catalog.version()
            );
            Ok(())
        }
        CatalogCommand::Diff { old, new } => {
            let (before, after) = (load(&old, 2)?, load(&new, 2)?);
            let d = diff::diff(&before, &after);
            print!("{d}");
            if d.widens() {
                Err(Failure::new(1, ""))
            } else {
                Ok(())
            }
        }
        CatalogCommand::Render { catalog, format } => {
            let catalog = load(&catalog, 1)?;
            match format {
                Format::Markdown => print!("{}", register::markdown(&catalog)),
                Format::Html => print!("{}", register::html_document(&catalog)),
            }
            Ok(())
        }
    }
}
