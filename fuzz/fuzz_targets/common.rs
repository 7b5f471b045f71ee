// Shared by the fuzz targets: the shipped catalog, loaded once.
use std::sync::LazyLock;

pub static CATALOG: LazyLock<hub_policy::Catalog> = LazyLock::new(|| {
    hub_policy::Catalog::from_toml(include_str!("../../policy/catalog.toml")).expect("the shipped catalog is valid")
});
