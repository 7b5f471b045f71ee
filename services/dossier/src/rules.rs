//! The rules of the Regeling personeelsdossiers Defensie as pure functions
//! and types, without I/O, so that each can be tested on its own and every
//! time-dependent rule takes "now" as a parameter.

use chrono::{DateTime, Months, NaiveDate, Utc};
use uuid::Uuid;

/// The HR processes of the HR process model Defensie under which entries
/// are indexed (art 6.1); the same list as the CHECK in migration 0003.
pub const HR_PROCESSES: [&str; 7] = [
    "instroom",
    "loopbaan",
    "opleiding",
    "beoordeling",
    "verzuim_en_reintegratie",
    "uitstroom",
    "arbeidsvoorwaarden",
];

/// Art 4.2: direct access for audits goes to at most five designated
/// employees of the control service at any one time.
pub const MAX_ACTIVE_AUDIT_GRANTS: i64 = 5;

/// Aggregates below this count are shown as `<5`, so that a report (art
/// 4.1) cannot single out a small group of people.
pub const SMALL_CELL: i64 = 5;

/// Art 17.2: the dossier leaves the active store this long after
/// employment ended.
pub const RETENTION_MONTHS: u32 = 12;

/// Art 17.4: no exemption for archived documents older than this.
pub const EXEMPTION_LIMIT_MONTHS: u32 = 5 * 12;

/// True when `category` is an art 13 category (`art13.1` … `art13.20`).
#[must_use]
pub fn is_art13_category(category: &str) -> bool {
    category
        .strip_prefix("art13.")
        .filter(|n| !n.starts_with('0') && !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit()))
        .and_then(|n| n.parse::<u8>().ok())
        .is_some_and(|n| (1..=20).contains(&n))
}

/// The nature of a grant (art 7.2: "de aard van de autorisatie").
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Nature {
    /// Read dossiers in scope.
    Read,
    /// Read and add entries in scope (the managing HR department).
    Write,
    /// Read for financial control, accountancy and audits (art 4.2).
    Audit,
    /// Aggregates only, never a single dossier (art 4.1).
    Report,
}

impl Nature {
    /// The name stored in the database.
    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            Nature::Read => "read",
            Nature::Write => "write",
            Nature::Audit => "audit",
            Nature::Report => "report",
        }
    }

    /// Parses a stored name.
    #[must_use]
    pub fn parse(text: &str) -> Option<Self> {
        match text {
            "read" => Some(Nature::Read),
            "write" => Some(Nature::Write),
            "audit" => Some(Nature::Audit),
            "report" => Some(Nature::Report),
            _ => None,
        }
    }

    /// Whether a grant of this nature allows `action` on one dossier.
    #[must_use]
    pub fn allows(self, action: Action) -> bool {
        match action {
            Action::Read => matches!(self, Nature::Read | Nature::Write | Nature::Audit),
            Action::Write => self == Nature::Write,
        }
    }
}

/// What a grant covers.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Scope {
    /// Every dossier.
    All,
    /// Dossiers of one defence branch (CLAS, CZSK, CLSK, KMar, …).
    DefenceBranch(String),
    /// Dossiers of one unit.
    Unit(String),
    /// One dossier, by personnel number.
    Dossier(String),
}

impl Scope {
    /// From the stored kind and value.
    #[must_use]
    pub fn from_parts(kind: &str, value: &str) -> Option<Self> {
        match kind {
            "all" => Some(Scope::All),
            "defence_branch" => Some(Scope::DefenceBranch(value.to_owned())),
            "unit" => Some(Scope::Unit(value.to_owned())),
            "dossier" => Some(Scope::Dossier(value.to_owned())),
            _ => None,
        }
    }

    /// The stored kind and value.
    #[must_use]
    pub fn parts(&self) -> (&'static str, &str) {
        match self {
            Scope::All => ("all", ""),
            Scope::DefenceBranch(v) => ("defence_branch", v),
            Scope::Unit(v) => ("unit", v),
            Scope::Dossier(v) => ("dossier", v),
        }
    }

    /// Whether the scope covers `dossier`.
    #[must_use]
    pub fn covers(&self, dossier: &DossierFacts) -> bool {
        match self {
            Scope::All => true,
            Scope::DefenceBranch(b) => b.eq_ignore_ascii_case(&dossier.defence_branch),
            Scope::Unit(u) => u.eq_ignore_ascii_case(&dossier.unit),
            Scope::Dossier(n) => *n == dossier.personnel_number,
        }
    }

    /// Narrower scopes first, so the log names the most specific grant.
    fn specificity(&self) -> u8 {
        match self {
            Scope::Dossier(_) => 0,
            Scope::Unit(_) => 1,
            Scope::DefenceBranch(_) => 2,
            Scope::All => 3,
        }
    }
}

/// Dossiers that need an approval before the matrix opens them.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Restriction {
    /// An ordinary dossier.
    None,
    /// MIVD staff: access under the conditions agreed between the MIVD and
    /// the HDP (art 7.6).
    Mivd,
    /// Staff of another special unit: the unit head approves (art 7.7).
    SpecialUnit,
    /// Management Development: the head of the unit approves (art 7.7).
    ManagementDevelopment,
}

impl Restriction {
    /// The name stored in the database.
    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            Restriction::None => "none",
            Restriction::Mivd => "mivd",
            Restriction::SpecialUnit => "special_unit",
            Restriction::ManagementDevelopment => "management_development",
        }
    }

    /// Parses a stored name.
    #[must_use]
    pub fn parse(text: &str) -> Option<Self> {
        match text {
            "none" => Some(Restriction::None),
            "mivd" => Some(Restriction::Mivd),
            "special_unit" => Some(Restriction::SpecialUnit),
            "management_development" => Some(Restriction::ManagementDevelopment),
            _ => None,
        }
    }

    /// The basis of the approval this restriction needs (stored with it).
    #[must_use]
    pub fn approval_basis(self) -> &'static str {
        match self {
            Restriction::Mivd => "mivd_hdp_agreement",
            Restriction::None | Restriction::SpecialUnit | Restriction::ManagementDevelopment => {
                "unit_head"
            }
        }
    }

    /// The restriction onboarding data implies: staff of the MIVD are
    /// restricted from the first entry, before anyone has classified the
    /// dossier. Other special units and MD are set by the records manager.
    #[must_use]
    pub fn from_onboarding(defence_branch: &str) -> Self {
        if defence_branch.trim().eq_ignore_ascii_case("mivd") {
            Restriction::Mivd
        } else {
            Restriction::None
        }
    }
}

/// An approval recorded on a grant.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Approval {
    /// The restriction it lifts.
    pub restriction: Restriction,
    /// For a special unit: the unit whose head approved.
    pub unit: String,
}

impl Approval {
    /// Whether this approval opens `dossier`.
    #[must_use]
    pub fn opens(&self, dossier: &DossierFacts) -> bool {
        self.restriction == dossier.restriction
            && (dossier.restriction != Restriction::SpecialUnit
                || self.unit.eq_ignore_ascii_case(&dossier.unit))
    }
}

/// An active grant of the caller, with its approvals.
#[derive(Clone, Debug)]
pub struct ActiveGrant {
    /// Its id.
    pub id: Uuid,
    /// Its nature.
    pub nature: Nature,
    /// What it covers.
    pub scope: Scope,
    /// Approvals recorded on it.
    pub approvals: Vec<Approval>,
}

/// What the access decision needs to know about a dossier.
#[derive(Clone, Debug)]
pub struct DossierFacts {
    /// Personnel number.
    pub personnel_number: String,
    /// Defence branch.
    pub defence_branch: String,
    /// Unit.
    pub unit: String,
    /// Restriction.
    pub restriction: Restriction,
    /// When it was moved to the archive, if it was.
    pub archived_at: Option<DateTime<Utc>>,
}

/// What is done with a dossier.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Action {
    /// Reading it.
    Read,
    /// Adding to it.
    Write,
}

impl Action {
    /// The name in the access log.
    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            Action::Read => "read",
            Action::Write => "write",
        }
    }
}

/// Why access was refused. The code goes to the access log; the message to
/// the caller. Neither contains personal data.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Denial {
    /// No dossier with that number (reported only to callers who could see
    /// it; others get `NoActiveGrant`, so existence does not leak).
    NotFound,
    /// No active grant of a suitable nature covers the dossier.
    NoActiveGrant,
    /// Only report grants cover it: aggregates only (art 4.1).
    ReportOnly,
    /// Restricted dossier without the approval of art 7.6 or 7.7.
    ApprovalRequired,
    /// The records manager's technical identity holds no grant, so it
    /// cannot carry an approval for a restricted dossier.
    RestrictedForRecordsManager,
    /// Archived; no exemption (art 17.4).
    Archived,
    /// Archived more than five years ago: no exemption possible (art 17.4).
    ArchivedOverFiveYears,
    /// Archived dossiers take no new entries.
    ArchivedReadOnly,
}

impl Denial {
    /// The code in the access log.
    #[must_use]
    pub fn code(self) -> &'static str {
        match self {
            Denial::NotFound => "not_found",
            Denial::NoActiveGrant => "no_active_grant",
            Denial::ReportOnly => "report_grant_only",
            Denial::ApprovalRequired => "approval_required",
            Denial::RestrictedForRecordsManager => "restricted_needs_approved_grant",
            Denial::Archived => "archived_without_exemption",
            Denial::ArchivedOverFiveYears => "archived_over_five_years",
            Denial::ArchivedReadOnly => "archived_read_only",
        }
    }

    /// The message for the caller.
    #[must_use]
    pub fn message(self) -> &'static str {
        match self {
            Denial::NotFound => "no dossier with that personnel number",
            Denial::NoActiveGrant => {
                "no active grant of the authorisation matrix covers this dossier (art 7)"
            }
            Denial::ReportOnly => "a report grant gives aggregates only, not dossiers (art 4.1)",
            Denial::ApprovalRequired => {
                "this dossier is restricted: the grant needs the approval of art 7.6 (MIVD) or 7.7 (unit head)"
            }
            Denial::RestrictedForRecordsManager => {
                "this dossier is restricted: read it through a personal grant with the approval of art 7.6 or 7.7"
            }
            Denial::Archived => {
                "this dossier is archived: access needs a written exemption for an objection or appeal (art 17.4)"
            }
            Denial::ArchivedOverFiveYears => {
                "this dossier was archived more than five years ago: no exemption is possible (art 17.4)"
            }
            Denial::ArchivedReadOnly => "this dossier is archived and takes no new entries",
        }
    }
}

/// An allowed access: the grant it was made under and, for an archived
/// dossier, the exemption.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Allowed {
    /// The grant used.
    pub grant_id: Uuid,
    /// The exemption used (archived dossiers only).
    pub exemption_id: Option<Uuid>,
}

/// True when an exemption may still be given for (or used on) a dossier
/// archived at `archived_at` (art 17.4: not for documents older than five
/// years; their age in the archive counts from the move).
#[must_use]
pub fn exemption_possible(archived_at: DateTime<Utc>, now: DateTime<Utc>) -> bool {
    archived_at
        .checked_add_months(Months::new(EXEMPTION_LIMIT_MONTHS))
        .is_some_and(|limit| now < limit)
}

/// The access decision of the matrix for a person: grant, then approval
/// (restricted dossiers), then the archive rule (art 17.4).
pub fn decide(
    dossier: &DossierFacts,
    action: Action,
    grants: &[ActiveGrant],
    exemption: Option<Uuid>,
    now: DateTime<Utc>,
) -> Result<Allowed, Denial> {
    let mut covering: Vec<&ActiveGrant> = grants
        .iter()
        .filter(|g| g.nature.allows(action) && g.scope.covers(dossier))
        .collect();
    if covering.is_empty() {
        let report_only = grants
            .iter()
            .any(|g| g.nature == Nature::Report && g.scope.covers(dossier));
        return Err(if report_only {
            Denial::ReportOnly
        } else {
            Denial::NoActiveGrant
        });
    }
    if dossier.restriction != Restriction::None {
        covering.retain(|g| g.approvals.iter().any(|a| a.opens(dossier)));
        if covering.is_empty() {
            return Err(Denial::ApprovalRequired);
        }
    }
    covering.sort_by_key(|g| g.scope.specificity());
    let grant_id = covering[0].id;
    match dossier.archived_at {
        None => Ok(Allowed {
            grant_id,
            exemption_id: None,
        }),
        Some(_) if action == Action::Write => Err(Denial::ArchivedReadOnly),
        Some(at) if !exemption_possible(at, now) => Err(Denial::ArchivedOverFiveYears),
        Some(_) => exemption
            .map(|id| Allowed {
                grant_id,
                exemption_id: Some(id),
            })
            .ok_or(Denial::Archived),
    }
}

/// The records manager's own access (the `admin` identity): outside the
/// matrix for ordinary dossiers, but never to restricted or archived ones,
/// which only an approved personal grant (and an exemption) opens.
pub fn decide_records_manager(dossier: &DossierFacts, action: Action) -> Result<(), Denial> {
    if dossier.restriction != Restriction::None {
        return Err(Denial::RestrictedForRecordsManager);
    }
    match (dossier.archived_at, action) {
        (None, _) => Ok(()),
        (Some(_), Action::Write) => Err(Denial::ArchivedReadOnly),
        (Some(_), Action::Read) => Err(Denial::Archived),
    }
}

/// A count as a report shows it: the number, or `<5` for small cells.
#[must_use]
pub fn shown_count(count: i64) -> (String, bool) {
    if count < SMALL_CELL {
        (format!("<{SMALL_CELL}"), true)
    } else {
        (count.to_string(), false)
    }
}

/// Ranks of brigadegeneraal and above, with their equivalents in the navy
/// (commandeur and above), normalised (lowercase, hyphens as spaces).
/// Art 18.2.b.ii keeps these dossiers permanently.
const GENERAL_RANKS: [&str; 9] = [
    "brigadegeneraal",
    "generaal majoor",
    "luitenant generaal",
    "generaal",
    "commandeur",
    "schout bij nacht",
    "vice admiraal",
    "luitenant admiraal",
    "admiraal",
];

fn normalise_rank(rank: &str) -> String {
    rank.to_lowercase()
        .replace(['-', '_'], " ")
        .split_whitespace()
        .collect::<Vec<_>>()
        .join(" ")
}

/// Why a dossier is kept permanently (art 18.2.b.ii), if it is: salary
/// scale 16 or higher, or the rank of brigadegeneraal or higher (also with
/// a suffix such as "der mariniers").
#[must_use]
pub fn permanent_retention(salary_scale: i32, rank: &str) -> Option<String> {
    if salary_scale >= 16 {
        return Some(format!(
            "salary scale {salary_scale} (16 or higher), permanent retention (art 18.2.b.ii)"
        ));
    }
    let rank = normalise_rank(rank);
    GENERAL_RANKS
        .iter()
        .find(|r| rank == **r || rank.starts_with(&format!("{r} der ")))
        .map(|r| {
            format!("rank {r} (brigadegeneraal or higher), permanent retention (art 18.2.b.ii)")
        })
}

/// The day the dossier is due for the archive: twelve months after
/// employment ended (art 17.2).
#[must_use]
pub fn archive_due_on(employment_end: NaiveDate) -> Option<NaiveDate> {
    employment_end.checked_add_months(Months::new(RETENTION_MONTHS))
}

/// True when a dossier whose employment ended on `employment_end` is due
/// for the archive on `today`.
#[must_use]
pub fn is_due(employment_end: NaiveDate, today: NaiveDate) -> bool {
    archive_due_on(employment_end).is_some_and(|due| due <= today)
}

#[cfg(test)]
mod tests;
